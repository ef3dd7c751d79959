// npy_input.cpp — see npy_input.hpp.
#include "tools/npy_input.hpp"

#include <bit>
#include <cstring>

#include "host/log.hpp"
#include "lowbit/io.hpp"
#include "lowbit_formats.h"

namespace lowbit::cli {

HalfArray read_npy_as_f16(const std::string& path, const std::string& what) {
  auto x = io::NpyFile::open(path);
  HalfArray h{x.shape(), std::vector<uint16_t>(size_t(numel(x.shape())))};
  auto b = x.bytes();
  if (x.dtype() == DType::F16) {
    std::memcpy(h.f16.data(), b.data(), h.f16.size() * 2);
  } else if (x.dtype() == DType::F32) {
    for (size_t i = 0; i < h.f16.size(); ++i) {
      uint32_t v;
      std::memcpy(&v, b.data() + 4 * i, 4);
      h.f16[i] = uint16_t(fmt::lb_f32_to_f16(v));
    }
  } else if (x.dtype() == DType::F64) {
    // double -> float32 -> float16, both RNE, as numpy's x.astype(np.float32).astype(np.float16) does.
    for (size_t i = 0; i < h.f16.size(); ++i) {
      double v;
      std::memcpy(&v, b.data() + 8 * i, 8);
      h.f16[i] = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(float(v))));
    }
    log().info("{}: float64 {} converted to float16", path, what);
  } else {
    throw Error(ErrorCode::InvalidArgument,
                path + ": " + what + " must be float32 or float16 (or float64), got " + to_string(x.dtype()));
  }
  return h;
}

}  // namespace lowbit::cli
