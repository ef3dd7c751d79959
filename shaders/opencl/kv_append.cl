/* kv_append.cl — quantizes new K and V rows (fp16 [tokens, Hkv, D]) into their paged-cache slots,
 * both tensors in one launch (OpenCL C 1.2). Same algorithm as shaders/glsl/kv_append.comp (see its
 * header): rows [0, rows) are K and [rows, 2 rows) V; LB_R work-items share a row, each owning
 * 16-element chunks; int8/int4 reduce the row's exact min/max keys with local atomics, then every
 * work-item quantizes its own elements with the shared math of lowbit_formats.h, so the bytes equal
 * the CPU reference's. The 16 codes of a chunk are computed in a loop of their own (no packing in
 * it), which CPU compilers can vectorize.
 * Variants from -D options: LB_FMT 0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2; LB_D head dim; LB_RPW rows
 * per work-group; LB_R work-items per row. The work-group size must be LB_RPW * LB_R.
 */
#if !defined(LB_FMT) || !defined(LB_D) || !defined(LB_RPW) || !defined(LB_R)
#error "kv_append.cl needs -DLB_FMT, -DLB_D, -DLB_RPW and -DLB_R"
#endif
#define LB_NCH (LB_D / 16)                  /* 16-element chunks per row */
#define LB_CPL ((LB_NCH + LB_R - 1) / LB_R) /* chunks per work-item */
#define LB_EPW (LB_FMT == 2 ? 8u : 4u)      /* elements per cache word (int8 / FP8 4, int4 8) */
#define LB_BITS (32u / LB_EPW)              /* bits per code */

__kernel void lb_kv_append(__global const uint4* src_k, __global const uint4* src_v, __global const int* slots,
                           __global uint4* codes_k, __global uint4* codes_v, __global ushort* scale_k,
                           __global ushort* zero_k, __global ushort* scale_v, __global ushort* zero_v,
                           __global const float* fp8_k, __global const float* fp8_v, uint rows, uint kv_heads,
                           uint per_head) {
  const uint lr = (uint)get_local_id(0) / LB_R, lane = (uint)get_local_id(0) % LB_R;
  const uint rr = (uint)get_group_id(0) * LB_RPW + lr;
  const bool live = rr < 2u * rows; /* the rest only meet the barriers */
  const bool v = rr >= rows;
  const uint r = live ? (v ? rr - rows : rr) : 0u;
  const uint tok = r / kv_heads, h = r % kv_heads;
  const uint cache_row = live ? (uint)slots[tok] * kv_heads + h : 0u;
  __global const uint4* src = v ? src_v : src_k;
  __global uint4* dst = v ? codes_v : codes_k;
#if LB_FMT == 0 /* a copy, 32 bytes per chunk */
  if (!live) return;
  for (uint c = 0; c < LB_CPL; ++c) {
    uint ch = lane + LB_R * c;
    if (ch >= LB_NCH) break;
    uint s = r * (LB_D / 8) + 2u * ch, d = cache_row * (LB_D / 8) + 2u * ch;
    dst[d] = src[s];
    dst[d + 1u] = src[s + 1u];
  }
#else
  uint xh[LB_CPL * 16];
  for (uint c = 0; c < LB_CPL; ++c) {
    uint ch = lane + LB_R * c;
    uint s = r * (LB_D / 8) + 2u * ch;
    uint4 a = (uint4)(0u), b = (uint4)(0u);
    if (live && ch < LB_NCH) {
      a = src[s];
      b = src[s + 1u];
    }
    uint w[8] = {a.s0, a.s1, a.s2, a.s3, b.s0, b.s1, b.s2, b.s3};
    for (uint i = 0; i < 8u; ++i) {
      xh[c * 16u + 2u * i] = w[i] & 0xFFFFu;
      xh[c * 16u + 2u * i + 1u] = w[i] >> 16;
    }
  }
  uint zero = 0u, scale = 0u;
  const uint L = LB_FMT == 1 ? 255u : 15u;
#if LB_FMT == 1 || LB_FMT == 2
  __local uint row_min[LB_RPW], row_max[LB_RPW];
  uint lo = LB_KV_NO_MIN, hi = 0u;
  for (uint c = 0; c < LB_CPL; ++c) {
    uint ch = lane + LB_R * c;
    if (!live || ch >= LB_NCH) continue;
    for (uint e = 0; e < 16u; ++e) {
      lo = min(lo, lb_kv_min_key(xh[c * 16u + e], ch * 16u + e));
      hi = max(hi, lb_kv_max_key(xh[c * 16u + e]));
    }
  }
  if (lane == 0u) {
    row_min[lr] = LB_KV_NO_MIN;
    row_max[lr] = 0u;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  atomic_min(&row_min[lr], lo);
  atomic_max(&row_max[lr], hi);
  barrier(CLK_LOCAL_MEM_FENCE);
  if (!live) return;
  const uint params = lb_kv_int_params(row_min[lr], row_max[lr], L);
  const uint zb = params & 0xFFFFu, sb = params >> 16;
  if (lane == 0u) {
    (v ? scale_v : scale_k)[cache_row] = (ushort)sb;
    (v ? zero_v : zero_k)[cache_row] = (ushort)zb;
  }
  zero = lb_f16_to_f32(zb);
  scale = lb_f16_to_f32(sb);
#else
  if (!live) return;
  const uint fp8s = as_uint((v ? fp8_v : fp8_k)[per_head ? h : 0u]);
  const float fp8r = 1.0f / as_float(fp8s); /* once per row: the codes need no division */
#endif
  for (uint c = 0; c < LB_CPL; ++c) {
    uint ch = lane + LB_R * c;
    if (ch >= LB_NCH) break;
    uint q[16];
    for (uint e = 0; e < 16u; ++e)
#if LB_FMT == 1 || LB_FMT == 2
      q[e] = lb_kv_int_code(xh[c * 16u + e], zero, scale, L);
#else
      q[e] = lb_kv_fp8_code(xh[c * 16u + e], fp8s, fp8r, LB_FMT == 3 ? LB_FMT_E4M3 : LB_FMT_E5M2);
#endif
    uint w[4] = {0u, 0u, 0u, 0u};
    for (uint e = 0; e < 16u; ++e) w[e / LB_EPW] |= q[e] << (LB_BITS * (e % LB_EPW));
    uint at = cache_row * LB_NCH + ch; /* 16 bytes per chunk; int4 8 */
#if LB_FMT == 2
    ((__global uint2*)dst)[at] = (uint2)(w[0], w[1]);
#else
    dst[at] = (uint4)(w[0], w[1], w[2], w[3]);
#endif
  }
#endif
}
