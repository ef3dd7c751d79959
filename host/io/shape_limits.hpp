// shape_limits.hpp — the largest tensor a file may declare: no dimension, and no product of the non-zero
// dimensions, above 2^62 elements, so that a zero dimension cannot hide an absurd one (npy headers,
// safetensors headers and the shapes in lowbit's metadata all go through this).
#pragma once

#include <cstdint>
#include <optional>

#include "lowbit/lowbit.hpp"

namespace lowbit::io::detail {

inline constexpr uint64_t kMaxElements = uint64_t(1) << 62;

// The element count of `shape`, or nullopt when a dimension is negative or above kMaxElements, or the
// product of the non-zero dimensions is above kMaxElements.
std::optional<uint64_t> bounded_numel(const Shape& shape);

}  // namespace lowbit::io::detail
