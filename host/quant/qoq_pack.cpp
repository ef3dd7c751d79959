// qoq_pack.cpp — the QoQ packer (lowbit/w4a8.hpp): progressive two-level quantization of fp32 weights into
// lowbit's W4A8 layout, and its exact dequantization.
//
// Level 1 (per output channel n): s1 = fp16(absmax / 119) (RNE; an all-zero channel gets 1; past the fp16
// range 65504, counted as s1_overflow; below it the smallest subnormal), w8 = clamp(rint(W / s1), -119, 119)
// (fp32 division, ties to even; clamps counted as level1_clamped).
// Level 2 (per group of `group` rows of K): lo = min(0, min w8), hi = max(0, max w8) (the range holds 0, as
// (u - z) * s2 always does), s2 = max(1, ceil((hi - lo) / 15)) (<= 16), z = rne(-lo / s2), u = clamp(rne(w8 /
// s2) + z, 0, 15), all in exact integer arithmetic (rne: round half to even). Then |w8 - (u - z) * s2| <=
// s2 / 2 and |(u - z) * s2| <= 119 + s2 / 2 <= 127.
// Per channel (group -1): s1 = fp16(absmax / 7), u = clamp(rint(W / s1), -8, 7) + 8 (s2 = 1, z = 8).
#include <algorithm>
#include <bit>
#include <cmath>
#include <string>

#include "lowbit/lowbit.hpp"
#include "lowbit_formats.h"

namespace lowbit {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, "qoq: " + s); }

float f16_value(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }

// a / b rounded to nearest, ties to even, for b > 0.
int32_t div_round_even(int32_t a, int32_t b) {
  int32_t q = a >= 0 ? a / b : -((-a + b - 1) / b);  // floor
  int32_t r2 = 2 * (a - q * b);
  if (r2 > b || (r2 == b && (q & 1))) ++q;
  return q;
}

// fp16 bits of absmax / levels for a channel (see the file comment).
uint16_t channel_scale(float absmax, float levels, QoqReport& rep) {
  if (absmax == 0.0f) return 0x3C00;  // 1.0
  uint32_t h = fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(absmax / levels));
  if (h >= 0x7C00u) {
    ++rep.s1_overflow;
    return 0x7BFF;  // 65504
  }
  return h == 0u ? uint16_t(1) : uint16_t(h);
}

void put_code(QoqHost& w, int64_t n, int64_t k, uint32_t u) {
  w.qweight[size_t((k / 8) * w.n + n)] |= u << (4 * qoq_nibble(int(k % 8)));
}

// Level 2 of one group of level-1 codes w8[0, len) of channel n.
void quantize_group(QoqHost& w, int64_t n, int64_t g, const int32_t* w8) {
  int32_t lo = 0, hi = 0;
  for (int i = 0; i < w.group; ++i) lo = std::min(lo, w8[i]), hi = std::max(hi, w8[i]);
  int32_t s2 = std::max(1, (hi - lo + 14) / 15);
  int32_t z = std::clamp(div_round_even(-lo, s2), 0, 15);
  w.s2[size_t(g * w.n + n)] = uint8_t(s2);
  w.zeros[size_t(g * w.n + n)] = uint8_t(z);
  for (int i = 0; i < w.group; ++i)
    put_code(w, n, g * w.group + i, uint32_t(std::clamp(div_round_even(w8[i], s2) + z, 0, 15)));
}

}  // namespace

QoqHost qoq_layout(int64_t n, int64_t k, int group) {
  if (n <= 0 || k <= 0) bad("N and K must be positive, got N = " + std::to_string(n) + ", K = " + std::to_string(k));
  if (k > kW4A8MaxK) bad("K = " + std::to_string(k) + " exceeds " + std::to_string(kW4A8MaxK));
  QoqHost w;
  w.n = n, w.k = k;
  w.per_channel = group == -1 || group == 0;
  if (!w.per_channel && group < 0) bad("group size must be > 0 or -1 (per channel), got " + std::to_string(group));
  if (!w.per_channel && k % group) bad("group size " + std::to_string(group) + " does not divide K = " + std::to_string(k));
  w.group = w.per_channel ? int(k) : group;
  return w;
}

QoqHost quantize_qoq(const float* wt, int64_t n, int64_t k, int group, QoqReport* report) {
  QoqHost w = qoq_layout(n, k, group);
  w.qweight.assign(size_t(w.k_words() * n), 0u);
  w.s1.resize(size_t(n));
  if (!w.per_channel) w.s2.resize(size_t(w.groups() * n)), w.zeros.resize(size_t(w.groups() * n));
  QoqReport rep;
  std::vector<int32_t> w8(static_cast<size_t>(k));
  for (int64_t r = 0; r < n; ++r) {
    const float* x = wt + r * k;
    float amax = 0.0f;
    for (int64_t i = 0; i < k; ++i) {
      if (!std::isfinite(x[i])) bad("weight row " + std::to_string(r) + " holds a NaN or inf");
      amax = std::max(amax, std::fabs(x[i]));
    }
    const int32_t qmax = w.per_channel ? 7 : kQoqLevel1Range, qmin = w.per_channel ? -8 : -kQoqLevel1Range;
    uint16_t s1 = channel_scale(amax, float(qmax), rep);
    w.s1[size_t(r)] = s1;
    const float s = f16_value(s1);
    for (int64_t i = 0; i < k; ++i) {
      float q = std::nearbyint(x[i] / s);
      if (q > float(qmax) || q < float(qmin)) ++rep.level1_clamped;
      w8[size_t(i)] = int32_t(std::clamp(q, float(qmin), float(qmax)));
    }
    if (w.per_channel) {
      for (int64_t i = 0; i < k; ++i) put_code(w, r, i, uint32_t(w8[size_t(i)] + 8));
    } else {
      for (int64_t g = 0; g < w.groups(); ++g) quantize_group(w, r, g, &w8[size_t(g * w.group)]);
    }
    // Rows past K of the last word hold the zero of the last group.
    for (int64_t i = k; i < w.k_words() * 8; ++i) put_code(w, r, i, w.zero(r, w.groups() - 1));
  }
  if (report) *report = rep;
  return w;
}

std::vector<float> dequantize_qoq(const QoqHost& w) {
  validate_qoq(w);
  std::vector<float> out(size_t(w.n * w.k));
  for (int64_t n = 0; n < w.n; ++n) {
    const float s = f16_value(w.s1[size_t(n)]);
    for (int64_t k = 0; k < w.k; ++k) out[size_t(n * w.k + k)] = float(w.w8(n, k)) * s;
  }
  return out;
}

}  // namespace lowbit
