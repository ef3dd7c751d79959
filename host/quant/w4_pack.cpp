// w4_pack.cpp — int4 weight packing into lowbit's layout: RTN quantization, GPTQ and AWQ import,
// validation and exact dequantization (see lowbit/w4.hpp for the layout).
#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>
#include <string>

#include "lowbit/lowbit.hpp"
#include "lowbit/w4.hpp"
#include "lowbit_formats.h"

namespace lowbit {

namespace {

float f16_to_f32(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }
uint16_t f32_to_f16(float f) { return uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(f))); }

[[noreturn]] void bad(const std::string& what) { throw Error(ErrorCode::InvalidArgument, what); }

int resolve_group(int group, int64_t k) {
  if (group == -1 || group == 0) return int(k);
  if (group < 0) bad("group size must be > 0 or -1 (per channel), got " + std::to_string(group));
  if (k % group) bad("group size " + std::to_string(group) + " does not divide K = " + std::to_string(k));
  return group;
}

// Allocates the data of a layer from w4_layout; qweight is filled with the zero point later per group.
W4Host& allocate(W4Host& w) {
  w.qweight.assign(size_t(w.k_words() * w.n), 0);
  w.scales.assign(size_t(w.groups() * w.n), 0);
  if (!w.sym) w.zeros.assign(size_t(w.groups() * w.n), 0);
  return w;
}

W4Host make_layer(int64_t n, int64_t k, int group, bool sym) {
  W4Host w = w4_layout(n, k, group, sym);
  allocate(w);
  return w;
}

// GPTQ's code of row k, column n, and zero point of group g, column n (v1 stores zero - 1).
uint32_t gptq_code(const GptqTensors& t, int64_t k, int64_t n) {
  return (uint32_t(t.qweight[(k / 8) * t.n + n]) >> (4 * (k % 8))) & 0xFu;
}
uint32_t gptq_zero(const GptqTensors& t, int64_t g, int64_t n) {
  uint32_t z = (uint32_t(t.qzeros[g * (t.n / 8) + n / 8]) >> (4 * (n % 8))) & 0xFu;
  return t.version == 1 ? z + 1 : z;
}

void put_q(W4Host& w, int64_t n, int64_t kp, uint32_t q) {
  uint32_t& word = w.qweight[size_t((kp / 8) * w.n + n)];
  int sh = 4 * w4_nibble(int(kp % 8));
  word = (word & ~(0xFu << sh)) | ((q & 0xFu) << sh);
}

// Rows past K (padding to whole words) hold the zero point, so they dequantize to 0.
void pad_rows(W4Host& w) {
  for (int64_t kp = w.k; kp < w.k_words() * 8; ++kp)
    for (int64_t n = 0; n < w.n; ++n) put_q(w, n, kp, w.zero(n, w.groups() - 1));
}

}  // namespace

W4Host w4_layout(int64_t n, int64_t k, int group, bool sym) {
  if (n <= 0 || k <= 0) bad("layer shape must be positive, got N=" + std::to_string(n) + " K=" + std::to_string(k));
  W4Host w;
  w.n = n;
  w.k = k;
  w.group = resolve_group(group, k);
  w.sym = sym;
  return w;
}

void validate_w4(const W4Host& w) {
  if (w.n <= 0 || w.k <= 0) bad("w4 layer: shape N=" + std::to_string(w.n) + " K=" + std::to_string(w.k) + " is empty");
  if (w.group <= 0 || w.k % w.group) bad("w4 layer: group " + std::to_string(w.group) + " does not divide K = " + std::to_string(w.k));
  if (w.qweight.size() != size_t(w.k_words() * w.n))
    bad("w4 layer: qweight has " + std::to_string(w.qweight.size()) + " words, expected " + std::to_string(w.k_words() * w.n));
  if (w.scales.size() != size_t(w.groups() * w.n))
    bad("w4 layer: scales has " + std::to_string(w.scales.size()) + " entries, expected " + std::to_string(w.groups() * w.n));
  if (!w.sym) {
    if (w.zeros.size() != size_t(w.groups() * w.n))
      bad("w4 layer: zeros has " + std::to_string(w.zeros.size()) + " entries, expected " + std::to_string(w.groups() * w.n));
    for (auto z : w.zeros)
      if (z > 16) bad("w4 layer: zero point " + std::to_string(z) + " out of range 0..16");
  }
  if (!w.perm.empty()) {
    if (w.perm.size() != size_t(w.k)) bad("w4 layer: perm has " + std::to_string(w.perm.size()) + " entries, expected K");
    std::vector<char> seen(size_t(w.k), 0);
    for (auto p : w.perm) {
      if (p < 0 || p >= w.k || seen[size_t(p)]) bad("w4 layer: perm is not a permutation of 0..K-1");
      seen[size_t(p)] = 1;
    }
  }
}

W4Host quantize_w4_rtn(const float* wt, int64_t n, int64_t k, int group, bool sym) {
  W4Host w = make_layer(n, k, group, sym);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t g = 0; g < w.groups(); ++g) {
      const float* x = wt + r * k + g * w.group;
      float lo = 0.0f, hi = 0.0f, amax = 0.0f;
      for (int i = 0; i < w.group; ++i) {
        if (!std::isfinite(x[i])) bad("rtn: weight row " + std::to_string(r) + " holds a NaN or inf");
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
        amax = std::max(amax, std::fabs(x[i]));
      }
      float scale = sym ? amax / 7.0f : (hi - lo) / 15.0f;
      uint16_t s16 = f32_to_f16(scale);
      if (f16_to_f32(s16) == 0.0f) s16 = f32_to_f16(1.0f);  // all-zero group (or below fp16 range)
      float s = f16_to_f32(s16);
      uint32_t z = sym ? 8u : uint32_t(std::clamp(std::nearbyint(-lo / s), 0.0f, 15.0f));
      w.scales[size_t(g * n + r)] = s16;
      if (!sym) w.zeros[size_t(g * n + r)] = uint8_t(z);
      for (int i = 0; i < w.group; ++i) {
        float q = std::clamp(std::nearbyint(x[i] / s) + float(z), 0.0f, 15.0f);
        put_q(w, r, g * w.group + i, uint32_t(q));
      }
    }
  }
  pad_rows(w);
  return w;
}

W4Host gptq_layout(const GptqTensors& t) {
  if (t.k % 8) bad("gptq: K = " + std::to_string(t.k) + " is not a multiple of 8 (qweight packs 8 rows per int32)");
  if (t.n % 8) bad("gptq: N = " + std::to_string(t.n) + " is not a multiple of 8 (qzeros packs 8 columns per int32)");
  if (t.version != 1 && t.version != 2) bad("gptq: checkpoint format version must be 1 or 2");
  int group = resolve_group(t.group, t.k);
  int64_t G = t.k / group;
  // act_order: rows sorted by group must form contiguous groups of `group` rows
  std::vector<int32_t> perm(size_t(t.k));
  std::iota(perm.begin(), perm.end(), 0);
  bool trivial = true;
  if (t.g_idx) {
    for (int64_t k = 0; k < t.k; ++k) {
      if (t.g_idx[k] < 0 || t.g_idx[k] >= G)
        bad("gptq: g_idx[" + std::to_string(k) + "] = " + std::to_string(t.g_idx[k]) + " is outside 0.." + std::to_string(G - 1));
      if (t.g_idx[k] != k / group) trivial = false;
    }
    std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return t.g_idx[a] < t.g_idx[b]; });
    for (int64_t kp = 0; kp < t.k; ++kp)
      if (t.g_idx[perm[size_t(kp)]] != kp / group)
        bad("gptq: g_idx does not split K into groups of " + std::to_string(group) + " rows");
  }
  bool all8 = true;
  for (int64_t g = 0; g < G && all8; ++g)
    for (int64_t n = 0; n < t.n; ++n)
      if (gptq_zero(t, g, n) != 8) {
        all8 = false;
        break;
      }
  if (t.sym && !all8) bad("gptq: config says sym=true but qzeros hold zero points other than 8");
  W4Host w = w4_layout(t.n, t.k, group, all8);
  if (!trivial) w.perm = std::move(perm);
  return w;
}

W4Host import_gptq(const GptqTensors& t) {
  W4Host w = gptq_layout(t);
  allocate(w);
  for (int64_t g = 0; g < w.groups(); ++g)
    for (int64_t n = 0; n < t.n; ++n) {
      w.scales[size_t(g * t.n + n)] = t.scales[g * t.n + n];
      if (!w.sym) w.zeros[size_t(g * t.n + n)] = uint8_t(gptq_zero(t, g, n));
    }
  for (int64_t kp = 0; kp < t.k; ++kp) {
    int64_t k = w.perm.empty() ? kp : w.perm[size_t(kp)];
    for (int64_t n = 0; n < t.n; ++n) put_q(w, n, kp, gptq_code(t, k, n));
  }
  return w;
}

W4Host import_awq(const AwqTensors& t) {
  static const int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};  // nibble i holds column 8c + kOrder[i]
  if (t.n % 8) bad("awq: N = " + std::to_string(t.n) + " is not a multiple of 8 (qweight packs 8 columns per int32)");
  int group = resolve_group(t.group, t.k);
  int64_t G = t.k / group;
  auto unpack = [&](const int32_t* p, int64_t row, int64_t n) {
    uint32_t word = uint32_t(p[row * (t.n / 8) + n / 8]);
    int pos = int(std::find(kOrder, kOrder + 8, int(n % 8)) - kOrder);
    return (word >> (4 * pos)) & 0xFu;
  };
  W4Host w = make_layer(t.n, t.k, group, false);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t n = 0; n < t.n; ++n) {
      w.scales[size_t(g * t.n + n)] = t.scales[g * t.n + n];
      w.zeros[size_t(g * t.n + n)] = uint8_t(unpack(t.qzeros, g, n));
    }
  for (int64_t k = 0; k < t.k; ++k)
    for (int64_t n = 0; n < t.n; ++n) put_q(w, n, k, unpack(t.qweight, k, n));
  pad_rows(w);
  return w;
}

void dequantize_w4_row(const W4Host& w, int64_t n, float* out) {
  for (int64_t kp = 0; kp < w.k; ++kp) {
    int64_t g = kp / w.group;
    float v = (float(w.q(n, kp)) - float(w.zero(n, g))) * f16_to_f32(w.scales[size_t(g * w.n + n)]);
    out[w.perm.empty() ? kp : w.perm[size_t(kp)]] = v;
  }
}

std::vector<float> dequantize_w4(const W4Host& w) {
  validate_w4(w);
  std::vector<float> out(size_t(w.n * w.k));
  for (int64_t n = 0; n < w.n; ++n) dequantize_w4_row(w, n, &out[size_t(n * w.k)]);
  return out;
}

}  // namespace lowbit
