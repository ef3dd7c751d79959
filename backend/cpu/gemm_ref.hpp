// gemm_ref.hpp — reference linear layers on host memory: fp16 or int4 weights, fp32 accumulation.
#pragma once

#include "backend/device.hpp"

namespace lowbit::detail {

struct HostGemm {
  bool w4;
  const uint16_t* x;        // fp16 [m, k]
  const void* w;            // fp16 [n, k] or uint32 qweight [ceil(k/8), n]
  const uint16_t* scales;   // fp16 [k/group, n]
  const uint8_t* zeros;     // [k/group, n] or null (zero 8)
  const void* bias;         // fp16 or fp32 (bias_f32) [n], or null
  void* y;                  // [m, n] fp16 or fp32
  int out_elem;
  uint64_t m, n, k;
  int group;
  bool bias_f32;
};

// Computes output columns [n0, n1) for all rows.
void gemm_columns(const HostGemm& a, uint64_t n0, uint64_t n1);

// W4A8 (lowbit/w4a8.hpp): exact int32 dot products of int8 activations with (u - z) * s2, then the shared
// epilogue lb_w4a8_epilogue (scale, + bias in fp32, one NaN bit pattern).
struct HostGemmW4A8 {
  const int8_t* a;          // [m, k]
  const float* a_scale;     // [m]
  const uint32_t* qweight;  // [ceil(k/8), n]
  const uint16_t* s1;       // fp16 [n]
  const uint8_t* s2;        // [k/group, n]
  const uint8_t* zeros;     // [k/group, n]
  const void* bias;         // fp16 or fp32 (bias_f32) [n], or null
  void* y;                  // [m, n] fp16 or fp32
  int out_elem;
  uint64_t m, n, k;
  int group;
  bool bias_f32;
};
void gemm_w4a8_columns(const HostGemmW4A8& a, uint64_t n0, uint64_t n1);

}  // namespace lowbit::detail
