// gemm_ref.cpp — the reference GEMM: each output column dequantizes its weight row once into fp32
// ((q - zero) * scale, exact), then dot products with fp32 accumulation in K order.
#include "backend/cpu/gemm_ref.hpp"

#include <bit>
#include <cstring>
#include <vector>

#include "lowbit/w4.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail {

static float h2f(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }

void gemm_columns(const HostGemm& a, uint64_t n0, uint64_t n1) {
  std::vector<float> xf(a.m * a.k), wrow(a.k);
  for (uint64_t i = 0; i < a.m * a.k; ++i) xf[i] = h2f(a.x[i]);
  for (uint64_t n = n0; n < n1; ++n) {
    if (a.w4) {
      const uint32_t* qw = static_cast<const uint32_t*>(a.w);
      for (uint64_t k = 0; k < a.k; ++k) {
        uint32_t q = (qw[(k / 8) * a.n + n] >> (4 * w4_nibble(int(k % 8)))) & 0xFu;
        uint64_t g = k / uint64_t(a.group);
        float z = a.zeros ? float(a.zeros[g * a.n + n]) : 8.0f;
        wrow[k] = (float(q) - z) * h2f(a.scales[g * a.n + n]);
      }
    } else {
      const uint16_t* w = static_cast<const uint16_t*>(a.w);
      for (uint64_t k = 0; k < a.k; ++k) wrow[k] = h2f(w[n * a.k + k]);
    }
    float b = 0.0f;
    if (a.bias) b = a.bias_f32 ? static_cast<const float*>(a.bias)[n] : h2f(static_cast<const uint16_t*>(a.bias)[n]);
    for (uint64_t m = 0; m < a.m; ++m) {
      const float* xr = &xf[m * a.k];
      float acc = 0.0f;
      for (uint64_t k = 0; k < a.k; ++k) acc += xr[k] * wrow[k];
      acc += b;
      if (a.out_elem == LB_FMT_F32) {
        std::memcpy(static_cast<uint8_t*>(a.y) + 4 * (m * a.n + n), &acc, 4);
      } else {
        uint16_t h = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(acc)));
        std::memcpy(static_cast<uint8_t*>(a.y) + 2 * (m * a.n + n), &h, 2);
      }
    }
  }
}

}  // namespace lowbit::detail
