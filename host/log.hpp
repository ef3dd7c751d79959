// log.hpp — lowbit's logger: spdlog to stderr (stdout belongs to the CLI's data), level from
// $LOWBIT_LOG (trace|debug|info|warn|error|off; default info).
#pragma once

#include <spdlog/spdlog.h>

namespace lowbit {
spdlog::logger& log();
}
