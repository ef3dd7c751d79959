// float_values.hpp — the values of a float tensor's bytes (F32, F16, BF16, F64; any alignment) as fp32,
// each rounded to nearest even where it does not fit: the one place the readers of float inputs
// (`pack`'s RTN weights and biases, float64 .npy for `convert` and `run`) decode them.
#pragma once

#include <vector>

#include "lowbit/io.hpp"

namespace lowbit::io::detail {

// Throws Error(InvalidArgument) when `dtype` is not a float type.
std::vector<float> float_values(DType dtype, Bytes bytes);

}  // namespace lowbit::io::detail
