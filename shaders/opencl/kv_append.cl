/* kv_append.cl — quantizes new K or V rows (fp16 [tokens, Hkv, D]) into their paged-cache slots
 * (OpenCL C 1.2). Same algorithm as shaders/glsl/kv_append.comp (see its header); bytes equal to the
 * CPU reference through the integer math of lowbit_formats.h.
 * Variants from -D options: LB_FMT 0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2; LB_D head dim.
 */
#ifndef LB_FMT
#define LB_FMT 0
#endif
#ifndef LB_D
#define LB_D 128
#endif

__kernel void lb_kv_append(__global const ushort* src, __global const int* slots, __global uchar* codes8,
                           __global ushort* codes16, __global ushort* scale16, __global ushort* zero16,
                           __global const float* scale32, uint rows, uint kv_heads, uint per_head) {
  uint r = get_global_id(0);
  if (r >= rows) return;
  uint tok = r / kv_heads, h = r % kv_heads;
  uint dst = (uint)slots[tok] * kv_heads + h;
  uint s0 = r * LB_D;
#if LB_FMT == 0
  for (uint d = 0; d < LB_D; ++d) codes16[dst * LB_D + d] = src[s0 + d];
#elif LB_FMT >= 3
  uint sb = as_uint(scale32[per_head ? h : 0u]);
  int f = LB_FMT == 3 ? LB_FMT_E4M3 : LB_FMT_E5M2;
  for (uint d = 0; d < LB_D; ++d)
    codes8[dst * LB_D + d] = (uchar)lb_encode(lb_div_f32(as_uint(vload_half(s0 + d, (__global const half*)src)), sb), 0, f, true);
#else
  float lo = INFINITY, hi = -INFINITY; /* NaN entries are ignored; a row of NaNs counts as 0 */
  for (uint d = 0; d < LB_D; ++d) {
    float x = vload_half(s0 + d, (__global const half*)src);
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (!(lo <= hi)) lo = hi = 0.0f;
  const uint L = LB_FMT == 1 ? 255u : 15u;
  float range = hi - lo;
  uint zb = lb_f32_to_f16(as_uint(lo));
  uint sb16 = lb_f32_to_f16(lb_div_f32(as_uint(range), as_uint((float)L)));
  if ((sb16 & 0x7FFFu) == 0u) sb16 = 0x3C00u;
  scale16[dst] = (ushort)sb16;
  zero16[dst] = (ushort)zb;
  uint sb = lb_f16_to_f32(sb16);
  float zero = as_float(lb_f16_to_f32(zb));
  uint packed = 0u;
  for (uint d = 0; d < LB_D; ++d) {
    float diff = vload_half(s0 + d, (__global const half*)src) - zero;
    float q = rint(as_float(lb_div_f32(as_uint(diff), sb)));
    uint c = q > 0.0f ? (uint)fmin(q, (float)L) : 0u; /* NaN -> 0 */
#if LB_FMT == 1
    codes8[dst * LB_D + d] = (uchar)c;
#else
    if ((d & 1u) == 0u) packed = c;
    else codes8[(dst * LB_D + d) >> 1] = (uchar)(packed | (c << 4));
#endif
  }
#endif
}
