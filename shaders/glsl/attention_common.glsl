// attention_common.glsl — bindings, push constants and in-register K/V dequantization shared by the
// attention family (attention.comp: decode, prefill and the split-K merge).
//
// Cache rows are read as 32-bit words: a row of D values is RW words, word w holding EPW consecutive
// elements (fp16: 2, int8/fp8: 4, int4: 8 with the low nibble first). Int formats decode to the raw
// code (value = code * scale + zero is applied per row by the caller), FP8 to code value (times the
// per-head / per-tensor scale, also applied by the caller), fp16 to its value.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#extension GL_EXT_control_flow_attributes : require

#include "lowbit_formats.h"

layout(constant_id = 0) const uint WG = 128;  // invocations per workgroup
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint FMT = 0;   // 0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2
layout(constant_id = 2) const uint D = 128;   // head dim
layout(constant_id = 5) const uint EPW = 2;   // elements per 32-bit word of a cache row
layout(constant_id = 6) const uint RW = 64;   // words per cache row (D / EPW)

const bool INT_FMT = FMT == 1u || FMT == 2u;
const bool FP8_FMT = FMT >= 3u;
const float NEG_INF = -1.0 / 0.0;

layout(push_constant) uniform AttnParams {
  uint q_heads, kv_heads;
  uint max_blocks, page_size;
  uint splits;      // decode: key splits (> 1 writes partials for the merge pass)
  uint split_keys;  // decode: keys per split (a multiple of page_size)
  uint flags;       // FLAG_* below
  int window;       // > 0: sliding window (implies causal)
  float softcap;    // > 0: s = C * tanh(s / C)
  float scale;      // logit scale
  uint chunks;      // decode: query-head chunks per kv head
} pc;

const uint FLAG_OUT_F32 = 1u;
const uint FLAG_CAUSAL = 2u;
const uint FLAG_FP8_PER_HEAD = 4u;

// Bindings: 0 q fp16, 1 K codes, 2 V codes, 3 K scale, 4 K zero, 5 V scale, 6 V zero, 7 q_start,
// 8 block_table, 9 seq_lens, 10 out (fp32 / fp16), 11 decode partials: fp32 [batch, Hq, splits, D + 2]
// (unnormalised acc[D], running max, running sum) that the merge pass combines.
layout(set = 0, binding = 0, std430) readonly buffer Q { uint q_words[]; };
layout(set = 0, binding = 1, std430) readonly buffer K { uint k_words[]; };
layout(set = 0, binding = 2, std430) readonly buffer V { uint v_words[]; };
layout(set = 0, binding = 3, std430) readonly buffer KS32 { float k_scale32[]; };
layout(set = 0, binding = 3, std430) readonly buffer KSW { uint k_scale_w[]; };  // the fp16 scales / zeros as words
layout(set = 0, binding = 4, std430) readonly buffer KZW { uint k_zero_w[]; };
layout(set = 0, binding = 5, std430) readonly buffer VS32 { float v_scale32[]; };
layout(set = 0, binding = 5, std430) readonly buffer VSW { uint v_scale_w[]; };
layout(set = 0, binding = 6, std430) readonly buffer VZW { uint v_zero_w[]; };
layout(set = 0, binding = 7, std430) readonly buffer QStart { int q_start[]; };
layout(set = 0, binding = 8, std430) readonly buffer Blocks { int block_table[]; };
layout(set = 0, binding = 9, std430) readonly buffer SeqLens { int seq_lens[]; };
layout(set = 0, binding = 10, std430) writeonly buffer Out32 { float out32[]; };
layout(set = 0, binding = 10, std430) writeonly buffer Out16 { uint16_t out16[]; };
layout(set = 0, binding = 11, std430) buffer Partials { float part[]; };

// The fp16 scale (low half) and zero (high half) of cache row `row`, read as 32-bit words (a buffer's
// capacity is a multiple of 16 bytes, so the word of the last row is inside it): CPU drivers gather
// 32-bit words across invocations but load 16-bit values one invocation at a time.
uint scale_zero(bool is_v, uint row) {
  uint sh = (row & 1u) * 16u, w = row >> 1;
  uint s = is_v ? v_scale_w[w] : k_scale_w[w], z = is_v ? v_zero_w[w] : k_zero_w[w];
  return ((s >> sh) & 0xFFFFu) | (((z >> sh) & 0xFFFFu) << 16);
}

float q_at(uint idx) {
  vec2 v = unpackHalf2x16(q_words[idx >> 1]);
  return (idx & 1u) == 0u ? v.x : v.y;
}

// The EPW elements of one cache word (see the top of this file; per-element decode: lowbit_formats.h).
void unpack_word(uint w, out float v[EPW]) {
  if (FMT == 0u) {
    vec2 h = unpackHalf2x16(w);
    v[0] = h.x;
    v[1] = h.y;
  } else {
    [[unroll]] for (uint e = 0u; e < EPW; ++e) v[e] = lb_kv_code_value(w, e, FMT);
  }
}

// Cache row of logical key j of sequence b, kv head hk.
uint kv_row(uint b, uint j, uint hk) {
  uint page = uint(block_table[b * pc.max_blocks + j / pc.page_size]);
  return (page * pc.page_size + j % pc.page_size) * pc.kv_heads + hk;
}

float fp8_scale_k(uint hk) { return k_scale32[(pc.flags & FLAG_FP8_PER_HEAD) != 0u ? hk : 0u]; }
float fp8_scale_v(uint hk) { return v_scale32[(pc.flags & FLAG_FP8_PER_HEAD) != 0u ? hk : 0u]; }

float apply_softcap(float s) {
  if (pc.softcap <= 0.0 || isnan(s)) return s;
  return pc.softcap * tanh(clamp(s / pc.softcap, -15.0, 15.0));  // tanh(±15) is ±1 in fp32
}

// Running max that keeps a NaN once seen (GLSL max() may drop NaN).
float nan_max(float a, float b) { return (isnan(a) || b > a || isnan(b)) ? (isnan(a) ? a : b) : a; }

// Online-softmax steps of one row: the factor that rescales the old sum / accumulators when the running max
// goes from m_old to mx, and a logit's probability under the new max (masked logits are -inf: 0).
float softmax_corr(float m_old, float mx) { return mx == NEG_INF ? 1.0 : exp(m_old - mx); }
float softmax_p(float s, float mx) { return s == NEG_INF ? 0.0 : exp(s - mx); }

void store_out(uint idx, float v) {
  if ((pc.flags & FLAG_OUT_F32) != 0u) {
    out32[idx] = v;
  } else {
    out16[idx] = uint16_t(lb_f32_to_f16(floatBitsToUint(v)));
  }
}

// The EPW dequantized values of word w of K (is_v false) or V cache row `row`: int formats with the row's
// scale and zero applied (lb_kv_int_value); FP8 as code values (the per-head scale is the caller's).
void kv_word_values(bool is_v, uint row, uint w, out float v[EPW]) {
  unpack_word(is_v ? v_words[row * RW + w] : k_words[row * RW + w], v);
  if (INT_FMT) {
    vec2 sz = unpackHalf2x16(scale_zero(is_v, row));
    [[unroll]] for (uint e = 0u; e < EPW; ++e) v[e] = lb_kv_int_value(v[e], sz.x, sz.y);
  }
}
