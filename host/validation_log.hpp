// validation_log.hpp — the process-wide record of Vulkan validation / driver messages. Backends add
// to it from their debug callbacks (any thread, also while a Context is being destroyed); the public
// lowbit::validation_message_count() / validation_messages() read it.
#pragma once

#include <string>

namespace lowbit::detail {

void record_validation_message(std::string text);

}  // namespace lowbit::detail
