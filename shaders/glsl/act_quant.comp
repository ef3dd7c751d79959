// act_quant.comp — quantize_activations_int8: per-token int8 codes, fp32 scales and row sums, with an
// optional fused RMSNorm (lowbit_formats.h pins every bit: the sum of squares runs over LB_ACT_LANES fixed
// lane partials and a fixed tree, so the result matches the CPU reference exactly).
//
// One workgroup per row (rows over workgroups x and y); WG invocations (a power of two dividing
// LB_ACT_LANES) each own lanes lid, lid + WG, ... Passes over the row: absmax of x and the lane partials
// (RMSNorm only), absmax of y, then codes and the row sum. Max and integer sums reduce in shared memory.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require

#include "lowbit_formats.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool X_F32 = false;  // activations fp32 (else fp16)
layout(constant_id = 2) const bool RMS = false;    // fused RMSNorm
layout(constant_id = 3) const bool W_F32 = false;  // RMSNorm weight fp32 (else fp16)

layout(push_constant) uniform Params { uint M, K, eps_bits; } pc;
layout(set = 0, binding = 0, std430) readonly buffer X16 { uint16_t x16[]; };
layout(set = 0, binding = 1, std430) readonly buffer X32 { uint x32[]; };
layout(set = 0, binding = 2, std430) readonly buffer W16 { uint16_t w16[]; };
layout(set = 0, binding = 3, std430) readonly buffer W32 { uint w32[]; };
layout(set = 0, binding = 4, std430) writeonly buffer Codes { int8_t codes[]; };
layout(set = 0, binding = 5, std430) writeonly buffer Scales { uint scales[]; };
layout(set = 0, binding = 6, std430) writeonly buffer Sums { int sums[]; };

const uint WG = gl_WorkGroupSize.x;
const uint LANES = uint(LB_ACT_LANES);

shared float part[LB_ACT_LANES];
shared uint max_red[LB_ACT_LANES];
shared int sum_red[LB_ACT_LANES];

uint x_bits(uint i) { return X_F32 ? x32[i] : lb_f16_to_f32(uint(x16[i])); }
uint w_bits(uint k) { return W_F32 ? w32[k] : lb_f16_to_f32(uint(w16[k])); }

uint reduce_max(uint v) {
  uint lid = gl_LocalInvocationID.x;
  max_red[lid] = v;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) max_red[lid] = max(max_red[lid], max_red[lid + s]);
    barrier();
  }
  uint r = max_red[0];
  barrier();
  return r;
}

// The fixed-order sum of the scaled squares (lowbit_formats.h): lane partials, then the tree.
float sum_of_squares(uint base, int e) {
  uint lid = gl_LocalInvocationID.x;
  for (uint l = lid; l < LANES; l += WG) {
    precise float p = 0.0;
    for (uint k = l; k < pc.K; k += LANES) {
      precise float sq = lb_rms_square(lb_ldexp_f32(x_bits(base + k), -e));
      p = p + sq;
    }
    part[l] = p;
  }
  barrier();
  for (uint s = LANES / 2u; s > 0u; s >>= 1u) {
    for (uint l = lid; l < s; l += WG) {
      precise float t = part[l] + part[l + s];
      part[l] = t;
    }
    barrier();
  }
  float r = part[0];
  barrier();
  return r;
}

uint y_bits(uint base, uint k, int e, uint r) {
  uint xb = x_bits(base + k);
  return RMS ? lb_rms_apply(xb, e, r, w_bits(k)) : xb;
}

void main() {
  uint row = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (row >= pc.M) return;  // the whole workgroup
  uint lid = gl_LocalInvocationID.x;
  uint base = row * pc.K;
  int e = 0;
  uint r = 0u;
  if (RMS) {
    uint amax = 0u;
    for (uint k = lid; k < pc.K; k += WG) amax = max(amax, lb_abs_bits(x_bits(base + k)));
    amax = reduce_max(amax);
    e = lb_rms_shift(amax, pc.eps_bits);
    r = lb_rms_factor(sum_of_squares(base, e), pc.K, pc.eps_bits, e);
  }
  uint ymax = 0u;
  for (uint k = lid; k < pc.K; k += WG) ymax = max(ymax, lb_abs_bits(y_bits(base, k, e, r)));
  uint scale = lb_act_scale(reduce_max(ymax));
  int sum = 0;
  for (uint k = lid; k < pc.K; k += WG) {
    int q = lb_act_code(y_bits(base, k, e, r), scale);
    codes[base + k] = int8_t(q);
    sum += q;
  }
  sum_red[lid] = sum;
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) sum_red[lid] += sum_red[lid + s];
    barrier();
  }
  if (lid == 0u) {
    scales[row] = scale;
    sums[row] = sum_red[0];
  }
}
