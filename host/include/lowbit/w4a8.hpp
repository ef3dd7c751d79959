// w4a8.hpp — W4A8 (QServe-style QoQ) weights on the host: lowbit's kernel layout, the progressive
// two-level quantizer, validation and exact dequantization.
//
// A linear layer computes Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N]) with int8 activations (per-token scale,
// Context::quantize_activations_int8) and QoQ weights (layout version 1):
//   level 1: s1 fp16 [N]: w8[n,k] = clamp(round_half_even(W[n,k] / s1[n]), -119, 119), s1 = absmax_n / 119,
//            the protective range that keeps every level-2 reconstruction inside int8;
//   level 2: per group of `group` rows of K: uint4 codes u with an integer scale s2 (1..16) and zero z (0..15):
//            w8'[n,k] = (u - z) * s2 = u*s2 - z*s2, in [-127, 127], computed in packed 8-bit lanes.
//   qweight  uint32 [ceil(K/8), N]  word (kb, n) holds u[n, 8kb+j], j = 0..7, in nibble qoq_nibble(j):
//                                   j = 0..3 in the low nibbles of bytes 0..3, j = 4..7 in the high nibbles,
//                                   so word & 0x0F0F0F0F is the 4x8 packing of rows 0..3 and
//                                   (word >> 4) & 0x0F0F0F0F that of rows 4..7. Rows past K hold z.
//   s2       uint8  [G, N]          G = K / group
//   zeros    uint8  [G, N]          z
//   Per-channel layers (group = K, `per_channel`): symmetric 4-bit, s2 = 1 and z = 8 (w8' = u - 8 in [-8, 7]),
//   s1 = absmax_n / 7; s2 and zeros are not stored in files and are synthesised on upload.
//   Y[m,n] = (float(acc[m,n]) * a_scale[m]) * float(s1[n]) (+ bias[n]), acc = Σ_k a8[m,k] * w8'[n,k] exact in
//   int32 (all groups: level 2 is integer, so the group sums add exactly; K <= kW4A8MaxK keeps it in range).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lowbit {

inline constexpr int kQoqLayoutVersion = 1;
inline constexpr int kQoqLevel1Range = 119;  // |w8| <= 119 after level 1
inline constexpr int64_t kW4A8MaxK = 131072;  // K * 127 * 127 < 2^31

// Nibble position of the j-th of 8 consecutive K rows inside one uint32 (QoQ order).
constexpr int qoq_nibble(int j) { return (j & 3) * 2 + (j >> 2); }

struct QoqHost {
  int64_t n = 0, k = 0;
  int group = 0;             // rows of K per level-2 scale (== k for per-channel)
  bool per_channel = false;  // symmetric 4-bit per output channel: s2 = 1, z = 8
  std::vector<uint32_t> qweight;  // [ceil(k/8) * n]
  std::vector<uint16_t> s1;       // fp16 bits [n]
  std::vector<uint8_t> s2;        // [groups * n] (empty when per_channel)
  std::vector<uint8_t> zeros;     // [groups * n] (empty when per_channel)
  int64_t groups() const { return group ? k / group : 0; }
  int64_t k_words() const { return (k + 7) / 8; }
  uint32_t u(int64_t n_, int64_t k_) const {  // code of row k_
    return (qweight[size_t((k_ / 8) * n + n_)] >> (4 * qoq_nibble(int(k_ % 8)))) & 0xFu;
  }
  uint32_t scale2(int64_t n_, int64_t g) const { return per_channel ? 1u : s2[size_t(g * n + n_)]; }
  uint32_t zero(int64_t n_, int64_t g) const { return per_channel ? 8u : zeros[size_t(g * n + n_)]; }
  // The level-2 reconstruction w8' of (n_, k_), in [-127, 127].
  int32_t w8(int64_t n_, int64_t k_) const {
    int64_t g = k_ / group;
    return (int32_t(u(n_, k_)) - int32_t(zero(n_, g))) * int32_t(scale2(n_, g));
  }
};

// Checks sizes and values (group divides k, k <= kW4A8MaxK, s2 in 1..16, zeros <= 15, (u - z) * s2 within
// [-127, 127] for every stored code, s1 finite); throws Error(InvalidArgument) naming the part.
void validate_qoq(const QoqHost& w);

// What a QoQ packer reports about one layer.
struct QoqReport {
  int64_t level1_clamped = 0;  // weights whose level-1 code |W / s1| rounded past 119 and was clamped
  int64_t s1_overflow = 0;     // channels whose absmax / 119 exceeded the fp16 range (s1 clamped to 65504)
};

// The sizes of a QoQ layer (n, k, group, per_channel; data empty) without quantizing: group -1 (or 0) is per
// channel; one that does not divide k, or k outside [1, kW4A8MaxK], is Error(InvalidArgument).
QoqHost qoq_layout(int64_t n, int64_t k, int group);

// QoQ quantization of fp32 W[n, k] (group = -1: per output channel, symmetric 4-bit).
QoqHost quantize_qoq(const float* w, int64_t n, int64_t k, int group, QoqReport* report = nullptr);

// Dequantized fp32 W[n, k] = w8'[n, k] * s1[n] (exact in fp32).
std::vector<float> dequantize_qoq(const QoqHost& w);

}  // namespace lowbit
