// shape_limits.cpp — bounded element counts of declared shapes (see shape_limits.hpp).
#include "host/io/shape_limits.hpp"

namespace lowbit::io::detail {

std::optional<uint64_t> bounded_numel(const Shape& shape) {
  uint64_t nonzero = 1;
  bool any_zero = false;
  for (int64_t d : shape) {
    if (d < 0 || uint64_t(d) > kMaxElements) return std::nullopt;
    if (d == 0) {
      any_zero = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero, uint64_t(d), &nonzero) || nonzero > kMaxElements) return std::nullopt;
  }
  return any_zero ? 0 : nonzero;
}

}  // namespace lowbit::io::detail
