/* act_quant.cl — quantize_activations_int8 (OpenCL C 1.2): per-token int8 codes, fp32 scales and row
 * sums with an optional fused RMSNorm; the same algorithm and order as shaders/glsl/act_quant.comp and the
 * CPU reference (lowbit_formats.h pins every bit). One work-group of LB_WG work-items per row.
 * -D options: LB_WG (a power of two dividing LB_ACT_LANES), LB_X_F32, LB_RMS, LB_W_F32 (0 or 1). */
#pragma OPENCL FP_CONTRACT OFF

#ifndef LB_WG
#define LB_WG 256
#endif

/* fp32 bits of element i of an fp32 (f32 = 1) or fp16 buffer; f32 is a -D constant, folded away. */
inline uint lb_aq_bits(__global const void* p, uint i, int f32) {
  return f32 ? ((__global const uint*)p)[i] : lb_f16_to_f32(((__global const ushort*)p)[i]);
}
#define lb_aq_x(x, i) lb_aq_bits((x), (i), LB_X_F32)
#define lb_aq_w(w, k) lb_aq_bits((w), (k), LB_W_F32)

inline uint lb_aq_y(__global const void* x, __global const void* w, uint base, uint k, int e, uint r) {
#if LB_RMS
  return lb_rms_apply(lb_aq_x(x, base + k), e, r, lb_aq_w(w, k));
#else
  return lb_aq_x(x, base + k);
#endif
}

inline uint lb_aq_max(__local uint* red, uint v) {
  uint lid = get_local_id(0);
  red[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = LB_WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) red[lid] = max(red[lid], red[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  uint r = red[0];
  barrier(CLK_LOCAL_MEM_FENCE);
  return r;
}

__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1))) void lb_act_quant(
    __global const void* x, __global const void* w, __global char* codes, __global uint* scales, __global int* sums,
    uint M, uint K, uint eps_bits) {
  __local float part[LB_ACT_LANES];
  __local uint max_red[LB_WG];
  __local int sum_red[LB_WG];
  uint row = get_group_id(0);
  if (row >= M) return; /* the whole work-group */
  uint lid = get_local_id(0);
  uint base = row * K;
  int e = 0;
  uint r = 0u;
#if LB_RMS
  uint amax = 0u;
  for (uint k = lid; k < K; k += LB_WG) amax = max(amax, lb_abs_bits(lb_aq_x(x, base + k)));
  amax = lb_aq_max(max_red, amax);
  e = lb_rms_shift(amax, eps_bits);
  for (uint l = lid; l < LB_ACT_LANES; l += LB_WG) {
    float p = 0.0f;
    for (uint k = l; k < K; k += LB_ACT_LANES) {
      float sq = lb_rms_square(lb_ldexp_f32(lb_aq_x(x, base + k), -e));
      p = p + sq;
    }
    part[l] = p;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = LB_ACT_LANES / 2u; s > 0u; s >>= 1u) {
    for (uint l = lid; l < s; l += LB_WG) part[l] = part[l] + part[l + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  r = lb_rms_factor(part[0], K, eps_bits, e);
#endif
  uint ymax = 0u;
  for (uint k = lid; k < K; k += LB_WG) ymax = max(ymax, lb_abs_bits(lb_aq_y(x, w, base, k, e, r)));
  uint scale = lb_act_scale(lb_aq_max(max_red, ymax));
  int sum = 0;
  for (uint k = lid; k < K; k += LB_WG) {
    int q = lb_act_code(lb_aq_y(x, w, base, k, e, r), scale);
    codes[base + k] = (char)q;
    sum += q;
  }
  sum_red[lid] = sum;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint s = LB_WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) sum_red[lid] += sum_red[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0u) {
    scales[row] = scale;
    sums[row] = sum_red[0];
  }
}
