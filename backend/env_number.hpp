// env_number.hpp — reading a numeric setting from the environment, validated once, with an error that
// names the variable (used by ContextOptions' environment fallbacks and the Vulkan settings).
#pragma once

#include <cstdint>

namespace lowbit::detail {

// $name parsed as an unsigned number (decimal or 0x hex) of at least `min`; 0 when unset or empty.
// Throws InvalidArgument naming the variable when it is not such a number.
uint64_t env_number(const char* name, uint64_t min, const char* what);

}  // namespace lowbit::detail
