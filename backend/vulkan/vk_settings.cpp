// vk_settings.cpp — ContextOptions / environment -> vk::Settings.
#include "backend/vulkan/vk_settings.hpp"

#include <cstdlib>
#include <string>

namespace lowbit::detail::vk {

namespace {

constexpr uint64_t kMinStagingLimit = 64 << 10;  // room for a few aligned chunks

}  // namespace

Settings settings_from(const ContextOptions& o) {
  Settings s;
  if (uint64_t t = o.timeout_ms ? o.timeout_ms : env_number("LOWBIT_VK_TIMEOUT_MS", 1, "a time in milliseconds"))
    s.timeout_ms = t;
  if (o.staging_limit && o.staging_limit < kMinStagingLimit)
    throw Error(ErrorCode::InvalidArgument, "ContextOptions::staging_limit " + std::to_string(o.staging_limit) +
                                                " is below the minimum of " + std::to_string(kMinStagingLimit) +
                                                " bytes");
  if (uint64_t l = o.staging_limit ? o.staging_limit
                                   : env_number("LOWBIT_VK_STAGING_LIMIT", kMinStagingLimit, "a byte count"))
    s.staging_limit = l;
  s.destroy_wait_override_ms = env_number("LOWBIT_TEST_VK_DESTROY_WAIT_MS", 1, "a time in milliseconds");
  return s;
}

}  // namespace lowbit::detail::vk
