// kv_append.comp — quantizes new K or V rows (fp16 [tokens, Hkv, D]) into their paged-cache slots.
//
// One invocation per (token, kv head) row: min/max of the row, then the codes of lowbit/attention.hpp
// (int8/int4 asymmetric per row with fp16 scale and zero; FP8 codes of x / s; fp16 copied). All
// rounding goes through lowbit_formats.h (lb_div_f32, lb_encode, lb_f32_to_f16) and roundEven, so the
// bytes equal the CPU reference's. The host dispatches it once for K and once for V.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require

#include "lowbit_formats.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint FMT = 0;  // 0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2
layout(constant_id = 2) const uint D = 128;  // head dim

layout(push_constant) uniform Params {
  uint rows;          // tokens * Hkv
  uint kv_heads;
  uint per_head;      // FP8: scale per kv head (else one per tensor)
} pc;

// Bindings: 0 new rows fp16, 1 slots i32 [tokens], 2 codes, 3 int scale fp16 (written), 4 int zero fp16
// (written), 5 FP8 scale fp32 [1] or [Hkv] (read).
layout(set = 0, binding = 0, std430) readonly buffer Src { uint16_t src[]; };
layout(set = 0, binding = 1, std430) readonly buffer Slots { int slots[]; };
layout(set = 0, binding = 2, std430) writeonly buffer Codes8 { uint8_t codes8[]; };
layout(set = 0, binding = 2, std430) writeonly buffer Codes16 { uint16_t codes16[]; };
layout(set = 0, binding = 3, std430) writeonly buffer Scale16 { uint16_t scale16[]; };
layout(set = 0, binding = 5, std430) readonly buffer Scale32 { float scale32[]; };
layout(set = 0, binding = 4, std430) writeonly buffer Zero16 { uint16_t zero16[]; };

float src_at(uint i) { return unpackHalf2x16(uint(src[i])).x; }

void main() {
  uint r = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (r >= pc.rows) return;
  uint tok = r / pc.kv_heads, h = r % pc.kv_heads;
  uint dst = uint(slots[tok]) * pc.kv_heads + h;  // cache row
  uint s0 = r * D;
  if (FMT == 0u) {
    for (uint d = 0u; d < D; ++d) codes16[dst * D + d] = src[s0 + d];
    return;
  }
  if (FMT >= 3u) {
    uint sb = floatBitsToUint(scale32[pc.per_head != 0u ? h : 0u]);
    int f = FMT == 3u ? LB_FMT_E4M3 : LB_FMT_E5M2;
    for (uint d = 0u; d < D; ++d)
      codes8[dst * D + d] = uint8_t(lb_encode(lb_div_f32(floatBitsToUint(src_at(s0 + d)), sb), 0, f, true));
    return;
  }
  // int8 / int4: zero = f16(min), scale = f16((max - min) / L), 1 when that is 0
  float lo = 1.0 / 0.0, hi = -1.0 / 0.0;  // NaN entries are ignored; a row of NaNs counts as 0
  for (uint d = 0u; d < D; ++d) {
    float x = src_at(s0 + d);
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (!(lo <= hi)) {
    lo = 0.0;
    hi = 0.0;
  }
  const uint L = FMT == 1u ? 255u : 15u;
  precise float range = hi - lo;
  uint zb = lb_f32_to_f16(floatBitsToUint(lo));
  uint sb16 = lb_f32_to_f16(lb_div_f32(floatBitsToUint(range), floatBitsToUint(float(L))));
  if ((sb16 & 0x7FFFu) == 0u) sb16 = 0x3C00u;
  scale16[dst] = uint16_t(sb16);
  zero16[dst] = uint16_t(zb);
  uint sb = lb_f16_to_f32(sb16);
  float zero = uintBitsToFloat(lb_f16_to_f32(zb));
  uint packed = 0u;
  for (uint d = 0u; d < D; ++d) {
    precise float diff = src_at(s0 + d) - zero;
    float q = roundEven(uintBitsToFloat(lb_div_f32(floatBitsToUint(diff), sb)));
    uint c = q > 0.0 ? uint(min(q, float(L))) : 0u;  // NaN -> 0
    if (FMT == 1u) {
      codes8[dst * D + d] = uint8_t(c);
    } else if ((d & 1u) == 0u) {
      packed = c;
    } else {
      codes8[(dst * D + d) >> 1] = uint8_t(packed | (c << 4));
    }
  }
}
