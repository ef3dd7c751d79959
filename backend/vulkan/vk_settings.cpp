// vk_settings.cpp — ContextOptions / environment -> vk::Settings.
#include "backend/vulkan/vk_settings.hpp"

#include <cstdlib>
#include <string>

namespace lowbit::detail::vk {

namespace {

constexpr uint64_t kMinStagingLimit = 64 << 10;  // room for a few aligned chunks

}  // namespace

uint64_t env_number(const char* name, uint64_t min, const char* what) {
  const char* e = std::getenv(name);
  if (!e || !*e) return 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(e, &end, 0);
  if (end == e || *end != '\0' || e[0] == '-' || v < min)
    throw Error(ErrorCode::InvalidArgument,
                std::string(name) + "='" + e + "' must be " + what + " of at least " + std::to_string(min));
  return v;
}

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
  return s;
}

}  // namespace lowbit::detail::vk
