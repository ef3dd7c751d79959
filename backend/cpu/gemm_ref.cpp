// gemm_ref.cpp — the reference GEMMs (W4A8 at the end): each output column dequantizes its weight row once into fp32
// ((q - zero) * scale, exact), then dot products with fp32 accumulation in K order.
#include "backend/cpu/gemm_ref.hpp"

#include <bit>
#include <cstring>
#include <vector>

#include "lowbit/w4.hpp"
#include "lowbit/w4a8.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail {

static float h2f(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }

// Element i of y (fp32, or fp16 rounded to nearest even).
static void store_output(void* y, int out_elem, uint64_t i, float v) {
  if (out_elem == LB_FMT_F32) {
    std::memcpy(static_cast<uint8_t*>(y) + 4 * i, &v, 4);
  } else {
    uint16_t h = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(v)));
    std::memcpy(static_cast<uint8_t*>(y) + 2 * i, &h, 2);
  }
}

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
      store_output(a.y, a.out_elem, m * a.n + n, acc + b);
    }
  }
}

void gemm_w4a8_columns(const HostGemmW4A8& a, uint64_t n0, uint64_t n1) {
  std::vector<int32_t> wrow(a.k);
  for (uint64_t n = n0; n < n1; ++n) {
    for (uint64_t k = 0; k < a.k; ++k) {
      int32_t u = int32_t((a.qweight[(k / 8) * a.n + n] >> (4 * qoq_nibble(int(k % 8)))) & 0xFu);
      uint64_t g = k / uint64_t(a.group);
      wrow[k] = (u - int32_t(a.zeros[g * a.n + n])) * int32_t(a.s2[g * a.n + n]);
    }
    float b = 0.0f;
    if (a.bias) b = a.bias_f32 ? static_cast<const float*>(a.bias)[n] : h2f(static_cast<const uint16_t*>(a.bias)[n]);
    for (uint64_t m = 0; m < a.m; ++m) {
      const int8_t* ar = a.a + m * a.k;
      int32_t acc = 0;
      for (uint64_t k = 0; k < a.k; ++k) acc += int32_t(ar[k]) * wrow[k];
      store_output(a.y, a.out_elem, m * a.n + n, fmt::lb_w4a8_epilogue(acc, a.a_scale[m], a.s1[n], b));
    }
  }
}

}  // namespace lowbit::detail
