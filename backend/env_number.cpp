// env_number.cpp — see env_number.hpp.
#include "backend/env_number.hpp"

#include <cstdlib>
#include <string>

#include "lowbit/lowbit.hpp"

namespace lowbit::detail {

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

}  // namespace lowbit::detail
