// w4.hpp — int4 weights (W4A16) on the host: lowbit's kernel layout, RTN quantization, import of GPTQ
// (v1/v2) and AWQ (GEMM) tensors, and exact dequantization.
//
// A linear layer computes Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N]). Its int4 form (layout version 1):
//   qweight  uint32 [ceil(K/8), N]  word (kb, n) holds q[n, 8kb+j], j = 0..7, in nibble w4_nibble(j):
//                                   nibbles 0,4,1,5,2,6,3,7 (bits 0-3 = j0, bits 16-19 = j1, bits 4-7 =
//                                   j2, ...), so (word >> 4i) & 0x000F000F yields the pair (2i, 2i+1)
//                                   for the fp16 exponent trick. Rows past K hold the zero point.
//   scales   fp16   [G, N]          G = K / group (group = K for per-output-channel)
//   zeros    uint8  [G, N]          asymmetric only (0..16; GPTQ v1 zero 15 means 16); symmetric = 8
//   perm     int32  [K]             act_order only: packed row k' holds original row perm[k'], so
//                                   Y = X[:, perm] · Wpᵀ (activations are gathered once)
//   W[n, k'] = (q - zero) * scale, computed exactly in fp32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lowbit {

inline constexpr int kW4LayoutVersion = 1;

// Nibble position of the j-th of 8 consecutive K rows inside one uint32.
constexpr int w4_nibble(int j) { return (j & 1) * 4 + (j >> 1); }

struct W4Host {
  int64_t n = 0, k = 0;
  int group = 0;  // rows of K per scale (== k for per-channel)
  bool sym = true;
  std::vector<uint32_t> qweight;  // [ceil(k/8) * n]
  std::vector<uint16_t> scales;   // fp16 bits [groups * n]
  std::vector<uint8_t> zeros;     // [groups * n] (asym) or empty
  std::vector<int32_t> perm;      // [k] or empty
  int64_t groups() const { return group ? k / group : 0; }
  int64_t k_words() const { return (k + 7) / 8; }
  uint32_t q(int64_t n_, int64_t kp) const {  // code of packed row kp
    return (qweight[size_t((kp / 8) * n + n_)] >> (4 * w4_nibble(int(kp % 8)))) & 0xFu;
  }
  uint32_t zero(int64_t n_, int64_t g) const { return sym ? 8u : zeros[size_t(g * n + n_)]; }
};

// A layer's sizes without its data (qweight, scales and zeros empty): n, k, group (-1 = k) and sym,
// checked as quantize_w4_rtn checks them. A streaming writer declares the parts from it up front.
W4Host w4_layout(int64_t n, int64_t k, int group, bool sym);

// Checks sizes and values (zeros <= 16, perm a permutation, group divides k); throws Error.
void validate_w4(const W4Host& w);

// Round-to-nearest quantization of fp32 W[n,k]: asymmetric min-max per group (range includes 0), or
// symmetric absmax (scale = absmax / 7, zero 8). group = -1 means per output channel.
W4Host quantize_w4_rtn(const float* w, int64_t n, int64_t k, int group, bool sym);

// GPTQ tensors (AutoGPTQ / GPTQModel): qweight int32 [K/8, N] (nibble i = row 8r+i), qzeros int32
// [G, N/8] (nibble i = column 8c+i), scales fp16 [G, N], g_idx int32 [K] or null.
// version 1 ("gptq"): stored zero nibble = zero - 1; version 2 ("gptq_v2"): stored as is.
struct GptqTensors {
  const int32_t* qweight = nullptr;
  const int32_t* qzeros = nullptr;
  const uint16_t* scales = nullptr;
  const int32_t* g_idx = nullptr;
  int64_t k = 0, n = 0;
  int group = 128;  // -1 = per channel
  int version = 1;
  bool sym = false;  // config's sym: if true the zeros must all be 8
};
W4Host import_gptq(const GptqTensors& t);
// What import_gptq will return, without the data: sizes, sym (from the zero points) and perm (filled for
// act_order). Reads only g_idx and qzeros; throws the same errors as import_gptq for them.
W4Host gptq_layout(const GptqTensors& t);

// AWQ GEMM tensors: qweight int32 [K, N/8] and qzeros int32 [G, N/8] with nibble i holding column
// 8c + {0,2,4,6,1,3,5,7}[i]; scales fp16 [G, N]. Always asymmetric.
struct AwqTensors {
  const int32_t* qweight = nullptr;
  const int32_t* qzeros = nullptr;
  const uint16_t* scales = nullptr;
  int64_t k = 0, n = 0;
  int group = 128;
};
W4Host import_awq(const AwqTensors& t);

// Dequantized fp32 W[n, k] in the ORIGINAL row order (perm undone).
std::vector<float> dequantize_w4(const W4Host& w);
// One output channel of it: row n of W (k values, perm undone) into out. Does not validate.
void dequantize_w4_row(const W4Host& w, int64_t n, float* out);

}  // namespace lowbit
