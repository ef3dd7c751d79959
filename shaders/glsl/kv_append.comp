// kv_append.comp — quantizes new K or V rows (fp16 [tokens, Hkv, D]) into their paged-cache slots.
//
// RPW (token, kv head) rows per workgroup, one invocation per 32-bit word of a cache row (EPW
// elements: int8/FP8 4, int4 8; fp16 rows are copied 16 bytes per invocation); the host sets the
// workgroup size to RPW * WPR. int8/int4: each
// invocation folds the exact integer min/max keys of its elements (lowbit_formats.h, "KV cache
// rows") into shared memory with atomicMin/atomicMax, so any order gives the bytes of the CPU's
// sequential scan; then every invocation derives the row's scale and zero and quantizes its own
// elements. All per-element math (correctly rounded division, RNE, clamping, FP8 encoding) is the
// shared header's, so the bytes equal the CPU reference's. The host dispatches it once for K and once
// for V.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require

#include "lowbit_formats.h"

layout(local_size_x_id = 0) in;             // RPW * D / EPW invocations
layout(constant_id = 1) const uint FMT = 0;  // 0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2
layout(constant_id = 2) const uint D = 128;  // head dim
layout(constant_id = 3) const uint RPW = 1;  // rows per workgroup
const uint EPW = FMT == 0u ? 2u : (FMT == 2u ? 8u : 4u);  // elements per cache word
const uint BITS = 32u / EPW;                              // bits per code
const uint WPR = FMT == 0u ? D / 8u : D / EPW;            // invocations per row (fp16: 16 bytes each)

layout(push_constant) uniform Params {
  uint rows;          // tokens * Hkv
  uint kv_heads;
  uint per_head;      // FP8: scale per kv head (else one per tensor)
} pc;

// Bindings: 0 new rows fp16 (two per word), 1 slots i32 [tokens], 2 codes (words), 3 int scale fp16
// (written), 4 int zero fp16 (written), 5 FP8 scale fp32 [1] or [Hkv] (read).
layout(set = 0, binding = 0, std430) readonly buffer Src { uint src[]; };
layout(set = 0, binding = 0, std430) readonly buffer Src4 { uvec4 src4[]; };
layout(set = 0, binding = 1, std430) readonly buffer Slots { int slots[]; };
layout(set = 0, binding = 2, std430) writeonly buffer Codes { uint codes[]; };
layout(set = 0, binding = 2, std430) writeonly buffer Codes4 { uvec4 codes4[]; };
layout(set = 0, binding = 3, std430) writeonly buffer Scale16 { uint16_t scale16[]; };
layout(set = 0, binding = 4, std430) writeonly buffer Zero16 { uint16_t zero16[]; };
layout(set = 0, binding = 5, std430) readonly buffer Scale32 { float scale32[]; };

shared uint row_min[RPW], row_max[RPW];  // int8/int4: reduced keys of each row

void main() {
  const uint lr = gl_LocalInvocationID.x / WPR, w = gl_LocalInvocationID.x % WPR;
  const uint r = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * RPW + lr;
  const bool live = r < pc.rows;  // the rest only meet the barriers
  const uint tok = live ? r / pc.kv_heads : 0u, h = live ? r % pc.kv_heads : 0u;
  const uint cache_row = live ? uint(slots[tok]) * pc.kv_heads + h : 0u;
  const uint dst = cache_row * WPR + w;    // cache word
  const uint s0 = (r * D + w * EPW) / 2u;  // first source word
  if (FMT == 0u) {  // a copy, 16 bytes per invocation
    if (live) codes4[dst] = src4[r * WPR + w];
    return;
  }
  uint xh[8];
  for (uint i = 0u; i < EPW / 2u; ++i) {
    uint pair = live ? src[s0 + i] : 0u;
    xh[2u * i] = pair & 0xFFFFu;
    xh[2u * i + 1u] = pair >> 16;
  }
  uint word = 0u;
  if (FMT >= 3u) {
    if (!live) return;
    const uint sb = floatBitsToUint(scale32[pc.per_head != 0u ? h : 0u]);
    const int f = FMT == 3u ? LB_FMT_E4M3 : LB_FMT_E5M2;
    for (uint e = 0u; e < EPW; ++e) word |= lb_kv_fp8_code(xh[e], sb, f) << (BITS * e);
    codes[dst] = word;
    return;
  }
  uint lo = LB_KV_NO_MIN, hi = 0u;
  for (uint e = 0u; e < EPW; ++e) {
    lo = min(lo, lb_kv_min_key(xh[e], w * EPW + e));
    hi = max(hi, lb_kv_max_key(xh[e]));
  }
  if (w == 0u) {
    row_min[lr] = LB_KV_NO_MIN;
    row_max[lr] = 0u;
  }
  barrier();
  atomicMin(row_min[lr], lo);
  atomicMax(row_max[lr], hi);
  barrier();
  if (!live) return;
  const uint L = FMT == 1u ? 255u : 15u;
  const uint params = lb_kv_int_params(row_min[lr], row_max[lr], L);
  const uint zb = params & 0xFFFFu, sb16 = params >> 16;
  if (w == 0u) {
    scale16[cache_row] = uint16_t(sb16);
    zero16[cache_row] = uint16_t(zb);
  }
  const uint zero = lb_f16_to_f32(zb), scale = lb_f16_to_f32(sb16);
  for (uint e = 0u; e < EPW; ++e) word |= lb_kv_int_code(xh[e], zero, scale, L) << (BITS * e);
  codes[dst] = word;
}
