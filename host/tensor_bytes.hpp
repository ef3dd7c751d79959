// tensor_bytes.hpp — the byte size of a tensor of dtype and shape, checked (negative or overflowing
// dimensions are InvalidArgument errors); shared by Context::alloc, Buffer::view and the wrap functions.
#pragma once

#include <cstddef>

#include "lowbit/lowbit.hpp"

namespace lowbit::detail {
size_t checked_bytes(DType dtype, const Shape& shape);
}  // namespace lowbit::detail
