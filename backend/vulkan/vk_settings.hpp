// vk_settings.hpp — the Vulkan backend's tunables, each from ContextOptions or else its environment
// variable (LOWBIT_VK_TIMEOUT_MS, LOWBIT_VK_STAGING_LIMIT, LOWBIT_VK_MAX_RANGE), validated once.
#pragma once

#include <cstdint>

#include "lowbit/lowbit.hpp"

namespace lowbit::detail::vk {

// $name parsed as an unsigned number (decimal or 0x hex) of at least `min`; 0 when unset or empty.
// Throws InvalidArgument naming the variable when it is not such a number.
uint64_t env_number(const char* name, uint64_t min, const char* what);

struct Settings {
  uint64_t timeout_ms = 120000;        // longest fence wait before the device counts as lost
  uint64_t staging_limit = 64 << 20;   // most bytes of staging buffers alive at once
  // A context being destroyed waits this long for queued work before abandoning its memory.
  uint64_t destroy_wait_ms() const { return timeout_ms > 10000 ? timeout_ms : 10000; }
};
Settings settings_from(const ContextOptions& o);

}  // namespace lowbit::detail::vk
