// gemm_common.glsl — bindings, push constants and small helpers shared by the GEMM family
// (gemm_gemv.comp, gemm_tiled.comp, gemm_reduce.comp). Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias).
//
// Bindings: 0 X fp16 [M,K] (read as 32-bit words: two halves each), 1 W: int4 words [ceil(K/8), N]
// (lowbit/w4.hpp layout) or fp16 [N,K] words, 2 scales fp16 [G,N], 3 zeros u8 [G,N], 4 bias fp16 [N],
// 5 Y fp16/fp32 [M,N], or the fp32 split-K partials [splits, M, N].
// Weights larger than one storage binding may cover are bound in pieces: int4 by K slices (each
// dispatch binds the word rows of its slices, kw_base), fp16 by column ranges (n_base, n_count).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_16bit_storage : require

#include "lowbit_formats.h"

layout(push_constant) uniform GemmParams {
  uint M, N, K;
  uint group;     // rows of K per scale (w4)
  uint k_split;   // K elements per split (multiple of 8); == K without split-K
  uint splits;    // number of K slices; > 1 writes fp32 partials
  uint flags;     // FLAG_* below
  uint split_base;  // index of this dispatch's first K slice (workgroup y / z adds to it)
  uint kw_base;     // W4: first weight-word row of the bound W range (weights over the binding limit)
  uint n_base;      // first output column of this dispatch; fp16 W is bound from row n_base
  uint n_count;     // output columns of this dispatch
} pc;

const uint FLAG_BIAS = 1u;
const uint FLAG_ZEROS = 2u;
const uint FLAG_OUT_F32 = 4u;
const uint FLAG_BIAS_F32 = 8u;  // the bias buffer holds fp32 (else fp16)

layout(set = 0, binding = 0, std430) readonly buffer Xw { uint x_words[]; };
layout(set = 0, binding = 0, std430) readonly buffer Xw4 { uvec4 x_vec[]; };
layout(set = 0, binding = 1, std430) readonly buffer Ww { uint w_words[]; };
layout(set = 0, binding = 1, std430) readonly buffer Ww4 { uvec4 w_vec[]; };
layout(set = 0, binding = 2, std430) readonly buffer Scales { uint16_t scales[]; };
layout(set = 0, binding = 3, std430) readonly buffer Zeros { uint8_t zeros[]; };
layout(set = 0, binding = 4, std430) readonly buffer Bias { uint16_t bias[]; };
layout(set = 0, binding = 4, std430) readonly buffer BiasF32 { float bias32[]; };
layout(set = 0, binding = 5, std430) writeonly buffer Y32 { float y32[]; };
layout(set = 0, binding = 5, std430) writeonly buffer Y16 { uint16_t y16[]; };

float half_at(uint idx) {  // fp16 element idx of X (as a flat array)
  vec2 v = unpackHalf2x16(x_words[idx >> 1]);
  return (idx & 1u) == 0u ? v.x : v.y;
}

// fp16 scale / bias element as fp32 (16-bit values live only in buffers: no 16-bit arithmetic needed)
float scale_at(uint i) { return unpackHalf2x16(uint(scales[i])).x; }

// int4 dequantization of one 32-bit word (8 consecutive K rows of one column) into fp32, in row order.
// Portable: integer nibble extraction; (q - zero) * scale is exact in fp32.
void dequant8(uint word, float zero, float scale, out float w[8]) {
  for (int j = 0; j < 8; ++j) w[j] = (float((word >> uint(4 * ((j & 1) * 4 + (j >> 1)))) & 0xFu) - zero) * scale;
}

// Groups that are not a multiple of 8 rows: the word holding rows krow..krow+7 of column n, each row
// with its own group's scale and zero (rows past K hold the zero point and give 0).
void dequant8_rows(uint word, uint krow, uint n, out float w[8]) {
  uint groups = pc.K / pc.group;
  for (uint j = 0u; j < 8u; ++j) {
    uint g = min((krow + j) / pc.group, groups - 1u);
    float zero = (pc.flags & FLAG_ZEROS) != 0u ? float(uint(zeros[g * pc.N + n])) : 8.0;
    w[j] = (float((word >> (4u * ((j & 1u) * 4u + (j >> 1u)))) & 0xFu) - zero) * scale_at(g * pc.N + n);
  }
}

// Which rows of the word starting at row r0 lie in rows [gbegin, gbegin + glen): rows 0..3 (lo) and
// 4..7 (hi). The unsigned difference wraps below gbegin, so one comparison tests both edges.
void word_rows_in_group(uint r0, uint gbegin, uint glen, out bvec4 in_lo, out bvec4 in_hi) {
  in_lo = lessThan(uvec4(r0 - gbegin) + uvec4(0u, 1u, 2u, 3u), uvec4(glen));
  in_hi = lessThan(uvec4(r0 - gbegin) + uvec4(4u, 5u, 6u, 7u), uvec4(glen));
}

// Word slot e of a bk x bn int4 weight tile whose first row is k0 (tiled and coopmat loaders):
// column n and first row krow; false outside the layer or past k_end (end of this K slice).
bool w4_tile_word(uint e, uint k0, uint bn, uint bk, uint k_end, out uint n, out uint krow) {
  n = pc.n_base + gl_WorkGroupID.x * bn + e % bn;
  krow = k0 + (e / bn) * 8u;
  return e < bn * bk / 8u && n < pc.n_base + pc.n_count && krow < k_end;
}

// Writes the final value of Y[m, n] (bias added by the caller) as fp16 (RNE, bit-exact helper) or fp32.
void store_y(uint m, uint n, float v) {
  uint idx = m * pc.N + n;
  if ((pc.flags & FLAG_OUT_F32) != 0u) {
    y32[idx] = v;
  } else {
    y16[idx] = uint16_t(lb_f32_to_f16(floatBitsToUint(v)));
  }
}

float bias_at(uint n) {
  if ((pc.flags & FLAG_BIAS) == 0u) return 0.0;
  return (pc.flags & FLAG_BIAS_F32) != 0u ? bias32[n] : unpackHalf2x16(uint(bias[n])).x;
}

// Where a finished (m, n) value goes: the split-K partials or Y (with bias).
void finish_value(uint m, uint n, uint split, float v) {
  if (pc.splits > 1u) {
    y32[(split * pc.M + m) * pc.N + n] = v;
  } else {
    store_y(m, n, v + bias_at(n));
  }
}

