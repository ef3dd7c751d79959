// act_quant_ref.cpp — quantize_activations_int8 on the CPU: one row at a time, the sum of squares in the
// fixed order of lowbit_formats.h (LB_ACT_LANES lane partials, then a tree), so it matches the GPU
// kernels bit for bit. Compiled with -ffp-contract=off (backend/cpu/CMakeLists.txt).
#include "backend/cpu/act_quant_ref.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "lowbit_formats.h"

namespace lowbit::detail {

namespace {

uint32_t load_f32_bits(const void* p, bool f32, uint64_t i) {
  if (f32) {
    uint32_t b;
    std::memcpy(&b, static_cast<const uint8_t*>(p) + 4 * i, 4);
    return b;
  }
  uint16_t h;
  std::memcpy(&h, static_cast<const uint8_t*>(p) + 2 * i, 2);
  return fmt::lb_f16_to_f32(h);
}

// Sum of the scaled squares of one row: lane partials, then the tree.
float sum_of_squares(const HostActQuant& a, uint64_t row, int e) {
  std::array<float, LB_ACT_LANES> lane{};
  for (uint64_t k = 0; k < a.k; ++k) {
    float sq = fmt::lb_rms_square(fmt::lb_ldexp_f32(load_f32_bits(a.x, a.x_f32, row * a.k + k), -e));
    lane[k % LB_ACT_LANES] = lane[k % LB_ACT_LANES] + sq;
  }
  for (int s = LB_ACT_LANES / 2; s >= 1; s /= 2)
    for (int l = 0; l < s; ++l) lane[l] = lane[l] + lane[l + s];
  return lane[0];
}

void quantize_row(const HostActQuant& a, uint64_t row) {
  auto value = [&](uint64_t k) { return load_f32_bits(a.x, a.x_f32, row * a.k + k); };
  uint32_t amax = 0;
  for (uint64_t k = 0; k < a.k; ++k) amax = std::max(amax, fmt::lb_abs_bits(value(k)));
  int e = 0;
  uint32_t r = 0;
  if (a.rms_weight) {
    e = fmt::lb_rms_shift(amax, a.eps_bits);
    r = fmt::lb_rms_factor(sum_of_squares(a, row, e), uint32_t(a.k), a.eps_bits, e);
  }
  auto y = [&](uint64_t k) {
    return a.rms_weight ? fmt::lb_rms_apply(value(k), e, r, load_f32_bits(a.rms_weight, a.w_f32, k)) : value(k);
  };
  uint32_t ymax = 0;
  for (uint64_t k = 0; k < a.k; ++k) ymax = std::max(ymax, fmt::lb_abs_bits(y(k)));
  const uint32_t scale = fmt::lb_act_scale(ymax);
  int32_t sum = 0;
  for (uint64_t k = 0; k < a.k; ++k) {
    int q = fmt::lb_act_code(y(k), scale);
    a.codes[row * a.k + k] = int8_t(q);
    sum += q;
  }
  a.scales[row] = scale;
  a.sums[row] = sum;
}

}  // namespace

void act_quant_rows(const HostActQuant& a, uint64_t r0, uint64_t r1) {
  for (uint64_t row = r0; row < r1; ++row) quantize_row(a, row);
}

}  // namespace lowbit::detail
