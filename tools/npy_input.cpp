// npy_input.cpp — see npy_input.hpp.
#include "tools/npy_input.hpp"

#include <bit>
#include <cstring>

#include "host/io/float_values.hpp"
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
  } else if (x.dtype() == DType::F32 || x.dtype() == DType::F64) {
    // (double ->) float32 -> float16, each RNE, as numpy's x.astype(np.float32).astype(np.float16) does.
    std::vector<float> f = io::detail::float_values(x.dtype(), b);
    for (size_t i = 0; i < h.f16.size(); ++i) h.f16[i] = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(f[i])));
    if (x.dtype() == DType::F64) log().info("{}: float64 {} converted to float16", path, what);
  } else {
    throw Error(ErrorCode::InvalidArgument,
                path + ": " + what + " must be float32 or float16 (or float64), got " + to_string(x.dtype()));
  }
  return h;
}

}  // namespace lowbit::cli
