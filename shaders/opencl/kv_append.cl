/* kv_append.cl — quantizes new K or V rows (fp16 [tokens, Hkv, D]) into their paged-cache slots
 * (OpenCL C 1.2). Same algorithm as shaders/glsl/kv_append.comp (see its header): LB_RPW (token,
 * kv head) rows per work-group, one work-item per 32-bit cache word; int8/int4 reduce exact min/max keys with
 * local atomics, then every work-item quantizes its own elements with the shared math of
 * lowbit_formats.h, so the bytes equal the CPU reference's.
 * Variants from -D options: LB_FMT 0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2; LB_D head dim; LB_RPW
 * rows per work-group. The work-group size must be LB_RPW * LB_WPR.
 */
#if !defined(LB_FMT) || !defined(LB_D)
#error "kv_append.cl needs -DLB_FMT and -DLB_D"
#endif
#define LB_EPW (LB_FMT == 2 ? 8u : 4u) /* elements per cache word (int8 / FP8 4, int4 8) */
#define LB_BITS (32u / LB_EPW)                          /* bits per code */
#define LB_WPR (LB_FMT == 0 ? LB_D / 8 : LB_D / LB_EPW) /* work-items per row (fp16: 16 bytes each) */
#ifndef LB_RPW
#define LB_RPW 1 /* rows per work-group */
#endif

__kernel void lb_kv_append(__global const uint* src, __global const int* slots, __global uint* codes,
                           __global ushort* scale16, __global ushort* zero16, __global const float* scale32,
                           uint rows, uint kv_heads, uint per_head) {
  __local uint row_min[LB_RPW], row_max[LB_RPW]; /* int8/int4: reduced keys of each row */
  const uint lr = (uint)get_local_id(0) / LB_WPR, w = (uint)get_local_id(0) % LB_WPR;
  const uint r = (uint)get_group_id(0) * LB_RPW + lr;
  const bool live = r < rows; /* the rest only meet the barriers */
  const uint tok = live ? r / kv_heads : 0u, h = live ? r % kv_heads : 0u;
  const uint cache_row = live ? (uint)slots[tok] * kv_heads + h : 0u;
  const uint dst = cache_row * LB_WPR + w;    /* cache word */
  const uint s0 = (r * LB_D + w * LB_EPW) / 2u; /* first source word */
#if LB_FMT == 0 /* a copy, 16 bytes per work-item */
  if (live) ((__global uint4*)codes)[dst] = ((__global const uint4*)src)[r * LB_WPR + w];
#else
  uint xh[LB_EPW];
  for (uint i = 0; i < LB_EPW / 2u; ++i) {
    uint pair = live ? src[s0 + i] : 0u;
    xh[2u * i] = pair & 0xFFFFu;
    xh[2u * i + 1u] = pair >> 16;
  }
  uint word = 0u;
#if LB_FMT >= 3
  if (!live) return;
  const uint sb = as_uint(scale32[per_head ? h : 0u]);
  const int f = LB_FMT == 3 ? LB_FMT_E4M3 : LB_FMT_E5M2;
  for (uint e = 0; e < LB_EPW; ++e) word |= lb_kv_fp8_code(xh[e], sb, f) << (LB_BITS * e);
#else
  uint lo = LB_KV_NO_MIN, hi = 0u;
  for (uint e = 0; e < LB_EPW; ++e) {
    lo = min(lo, lb_kv_min_key(xh[e], w * LB_EPW + e));
    hi = max(hi, lb_kv_max_key(xh[e]));
  }
  if (w == 0u) {
    row_min[lr] = LB_KV_NO_MIN;
    row_max[lr] = 0u;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  atomic_min(&row_min[lr], lo);
  atomic_max(&row_max[lr], hi);
  barrier(CLK_LOCAL_MEM_FENCE);
  if (!live) return;
  const uint L = LB_FMT == 1 ? 255u : 15u;
  const uint params = lb_kv_int_params(row_min[lr], row_max[lr], L);
  const uint zb = params & 0xFFFFu, sb16 = params >> 16;
  if (w == 0u) {
    scale16[cache_row] = (ushort)sb16;
    zero16[cache_row] = (ushort)zb;
  }
  const uint zero = lb_f16_to_f32(zb), scale = lb_f16_to_f32(sb16);
  for (uint e = 0; e < LB_EPW; ++e) word |= lb_kv_int_code(xh[e], zero, scale, L) << (LB_BITS * e);
#endif
  codes[dst] = word;
#endif
}
