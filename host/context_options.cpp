// context_options.cpp — ContextOptions completed from the environment before a backend sees them: the
// settings every backend shares (memory limit, deterministic mode, the test-only device-loss hook).
#include "host/context_options.hpp"

#include <cstdlib>
#include <cstring>

#include "backend/env_number.hpp"

namespace lowbit::detail {

static bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v || std::strcmp(v, "0") == 0) return false;
  if (std::strcmp(v, "1") == 0) return true;
  throw Error(ErrorCode::InvalidArgument, std::string(name) + "='" + v + "' must be 0 or 1");
}

ContextOptions with_environment(ContextOptions o) {
  if (!o.device_memory_limit) o.device_memory_limit = env_number("LOWBIT_DEVICE_MEMORY_LIMIT", 1, "a byte count");
  if (!o.deterministic) o.deterministic = env_flag("LOWBIT_DETERMINISTIC");
  if (!o.test_device_lost_at) o.test_device_lost_at = env_number("LOWBIT_TEST_DEVICE_LOST_AT", 1, "a count");
  return o;
}

}  // namespace lowbit::detail
