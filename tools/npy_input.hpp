// npy_input.hpp — reads an activation / Q / K / V .npy for `lowbit run` as fp16: float16 as is, float32 and
// float64 (numpy's default) rounded to nearest even, with a note in the log for float64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit::cli {

struct HalfArray {
  Shape shape;
  std::vector<uint16_t> f16;  // fp16 bits, C order
};

// Throws Error(InvalidArgument) naming `path` and `what` unless the file holds float16/32/64 data.
HalfArray read_npy_as_f16(const std::string& path, const std::string& what);

}  // namespace lowbit::cli
