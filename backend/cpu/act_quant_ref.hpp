// act_quant_ref.hpp — the reference of quantize_activations_int8: per-token int8 codes, scales and row
// sums, with the optional fused RMSNorm, in the exact order the GPU kernels use (lowbit_formats.h).
#pragma once

#include <cstdint>

namespace lowbit::detail {

struct HostActQuant {
  const void* x;           // [m, k] fp16 or fp32 (x_f32)
  bool x_f32;
  const void* rms_weight;  // [k] fp16 or fp32 (w_f32), or null = no RMSNorm
  bool w_f32;
  uint32_t eps_bits;       // fp32 bits
  int8_t* codes;           // [m, k]
  uint32_t* scales;        // fp32 bits [m]
  int32_t* sums;           // [m]
  uint64_t m, k;
};

// Quantizes rows [r0, r1).
void act_quant_rows(const HostActQuant& a, uint64_t r0, uint64_t r1);

}  // namespace lowbit::detail
