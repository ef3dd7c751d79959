// vk_settings.hpp — the Vulkan backend's tunables, each from ContextOptions or else its environment
// variable (LOWBIT_VK_TIMEOUT_MS, LOWBIT_VK_STAGING_LIMIT, LOWBIT_VK_MAX_RANGE,
// LOWBIT_TEST_VK_DESTROY_WAIT_MS), validated once.
#pragma once

#include <cstdint>

#include "backend/env_number.hpp"
#include "lowbit/lowbit.hpp"

namespace lowbit::detail::vk {

struct Settings {
  uint64_t timeout_ms = 120000;        // longest fence wait before the device counts as lost
  uint64_t staging_limit = 64 << 20;   // most bytes of staging buffers alive at once
  uint64_t destroy_wait_override_ms = 0;  // TEST ONLY: $LOWBIT_TEST_VK_DESTROY_WAIT_MS (the abandon path's test)
  // A context being destroyed waits this long for queued work before abandoning its memory.
  uint64_t destroy_wait_ms() const {
    if (destroy_wait_override_ms) return destroy_wait_override_ms;
    return timeout_ms > 10000 ? timeout_ms : 10000;
  }
};
Settings settings_from(const ContextOptions& o);

}  // namespace lowbit::detail::vk
