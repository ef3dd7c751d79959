// float_values.cpp — see float_values.hpp.
#include "host/io/float_values.hpp"

#include <bit>
#include <cstring>

#include "lowbit_formats.h"

namespace lowbit::io::detail {

std::vector<float> float_values(DType dtype, Bytes bytes) {
  if (!is_float(dtype)) throw Error(ErrorCode::InvalidArgument, std::string(to_string(dtype)) + " is not a float type");
  const size_t n = bytes.size() / dtype_size(dtype);
  std::vector<float> out(n);
  const uint8_t* b = bytes.data();
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = 0;
    switch (dtype) {
      case DType::F32: std::memcpy(&v, b + 4 * i, 4); break;
      case DType::F16: { uint16_t h; std::memcpy(&h, b + 2 * i, 2); v = fmt::lb_f16_to_f32(h); break; }
      case DType::BF16: { uint16_t h; std::memcpy(&h, b + 2 * i, 2); v = fmt::lb_bf16_to_f32(h); break; }
      case DType::F64: { double d; std::memcpy(&d, b + 8 * i, 8); v = std::bit_cast<uint32_t>(float(d)); break; }
      default: break;  // excluded above
    }
    out[i] = std::bit_cast<float>(v);
  }
  return out;
}

}  // namespace lowbit::io::detail
