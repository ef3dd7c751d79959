// gemm_w4a8.comp — W4A8 GEMM: Y[M,N] = (float(acc) * a_scale[m]) * s1[n] (+ bias), acc = Σ_k a[m,k] * w8'[n,k]
// exact in int32, with int8 activations (per-token scale) and QoQ weights (lowbit/w4a8.hpp layout v1).
//
// Entry kinds (build defines, one SPIR-V each):
//   GEMV    small M (backend/w4a8_plan.hpp, as gemm_gemv.comp's staged form): NC adjacent columns per
//           invocation, a KC-row chunk of A staged in shared memory as packed int8 words, K split across
//           workgroups (workgroup y = K slice).
//   TILED   larger M: BM x BN output tiles, K in steps of BK rows; A [BM][BK/4 + 1] and the weights,
//           dequantized to int8 once per step, [BK/4][BN] as packed words in shared memory; TM x TN int32
//           accumulators per invocation (workgroup y = M tile, z = K slice).
//   REDUCE  split-K: sums the int32 partials [splits, M, N] (exact, in any order), then the epilogue.
// INT_DOT (a define, so that the capability appears only in the variants that use it): the 4-lane dot
// products are OpSDotKHR on PackedVectorFormat4x8Bit operands (GL_EXT_spirv_intrinsics); without it,
// lb_dot4_i8. Every per-element step (nibbles, (u - z) * s2 in int8 lanes, epilogue) is lowbit_formats.h's,
// so every backend writes the same bits.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_control_flow_attributes : require
#ifdef INT_DOT
#extension GL_EXT_spirv_intrinsics : require
#endif
#include "lowbit_formats.h"

layout(push_constant) uniform W4A8Params {
  uint M, N, K;
  uint group;    // K rows per level-2 scale
  uint k_split;  // K rows per slice (multiple of 8); == K without split-K
  uint splits;   // K slices; > 1 writes int32 partials
  uint flags;    // FLAG_* below
} pc;

const uint FLAG_BIAS = 1u;
const uint FLAG_OUT_F32 = 4u;
const uint FLAG_BIAS_F32 = 8u;

layout(set = 0, binding = 0, std430) readonly buffer Aw { uint a_words[]; };    // int8 [M, K]
layout(set = 0, binding = 0, std430) readonly buffer Ab { uint8_t a_bytes[]; };
layout(set = 0, binding = 1, std430) readonly buffer Ww { uint w_words[]; };    // [ceil(K/8), N]
layout(set = 0, binding = 1, std430) readonly buffer Ww4 { uvec4 w_vec[]; };
layout(set = 0, binding = 2, std430) readonly buffer S2 { uint8_t s2[]; };      // [K/group, N]
layout(set = 0, binding = 3, std430) readonly buffer Zeros { uint8_t zeros[]; };  // [K/group, N]
layout(set = 0, binding = 4, std430) readonly buffer AScale { float a_scale[]; };  // [M]
layout(set = 0, binding = 5, std430) readonly buffer S1 { uint16_t s1[]; };     // fp16 [N]
layout(set = 0, binding = 6, std430) readonly buffer Bias { uint16_t bias[]; };
layout(set = 0, binding = 6, std430) readonly buffer BiasF32 { float bias32[]; };
layout(set = 0, binding = 7, std430) writeonly buffer Y32 { float y32[]; };
layout(set = 0, binding = 7, std430) writeonly buffer Y16 { uint16_t y16[]; };
#ifdef REDUCE
layout(set = 0, binding = 8, std430) readonly buffer Part { int part[]; };  // [splits, M, N]
#else
layout(set = 0, binding = 8, std430) writeonly buffer Part { int part[]; };
#endif

#ifdef INT_DOT
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int lb_sdot_packed(uint a, uint b, spirv_literal int packed_vector_format);
int dot4(uint a, uint b) { return lb_sdot_packed(a, b, 0); }  // 0 = PackedVectorFormat4x8Bit
#else
int dot4(uint a, uint b) { return lb_dot4_i8(a, b); }
#endif

// The epilogue of Y[m, n]: lb_w4a8_epilogue (scale, then the bias, each rounded to fp32; one NaN bit pattern).
void store_out(uint m, uint n, int acc) {
  float b = 0.0;
  if ((pc.flags & FLAG_BIAS) != 0u) b = (pc.flags & FLAG_BIAS_F32) != 0u ? bias32[n] : unpackHalf2x16(uint(bias[n])).x;
  float v = lb_w4a8_epilogue(acc, a_scale[m], uint(s1[n]), b);
  uint idx = m * pc.N + n;
  if ((pc.flags & FLAG_OUT_F32) != 0u) {
    y32[idx] = v;
  } else {
    y16[idx] = uint16_t(lb_f32_to_f16(floatBitsToUint(v)));
  }
}

#ifndef REDUCE
// Where a finished accumulator goes: the split-K partials or the epilogue.
void finish(uint m, uint n, uint split, int acc) {
  if (pc.splits > 1u) {
    part[(split * pc.M + m) * pc.N + n] = acc;
  } else {
    store_out(m, n, acc);
  }
}

// Activations a[m, k..k+3] as one packed word (rows >= M and K rows >= kend read as 0).
uint a4(uint m, uint k, uint kend) {
  if (m >= pc.M || k >= kend) return 0u;
  uint base = m * pc.K + k;
  if ((pc.K & 3u) == 0u && k + 4u <= kend) return a_words[base >> 2];
  uint v = 0u;
  for (uint j = 0u; j < 4u; ++j)
    if (k + j < kend) v |= uint(a_bytes[base + j]) << (8u * j);
  return v;
}

// The weight word of K rows krow..krow+7 of column n as two packed int8 words w8' (rows 0..3, 4..7), all
// rows in one group with scale sc and zero z.
void w8_word(uint word, uint sc, uint z, out uint lo, out uint hi) {
  lo = lb_qoq_w8x4(lb_qoq_codes4(word, 0u), sc, z);
  hi = lb_qoq_w8x4(lb_qoq_codes4(word, 1u), sc, z);
}

// The same where rows may lie in different groups: each lane takes its own row's group (rows past K the
// last group; their activations are 0). The SWAR lanes are independent, so masking picks one lane's result.
void w8_word_rows(uint word, uint krow, uint n, out uint lo, out uint hi) {
  uint last = pc.K / pc.group - 1u;
  lo = 0u, hi = 0u;
  for (uint j = 0u; j < 4u; ++j) {
    uint g0 = min((krow + j) / pc.group, last) * pc.N + n, g1 = min((krow + 4u + j) / pc.group, last) * pc.N + n;
    uint lane = 0xFFu << (8u * j);
    lo |= lb_qoq_w8x4(lb_qoq_codes4(word, 0u), uint(s2[g0]), uint(zeros[g0])) & lane;
    hi |= lb_qoq_w8x4(lb_qoq_codes4(word, 1u), uint(s2[g1]), uint(zeros[g1])) & lane;
  }
}
#endif

#ifdef GEMV
layout(constant_id = 0) const uint WG = 128;  // invocations per workgroup
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MT = 1;    // accumulator rows (>= M)
layout(constant_id = 2) const uint NC = 1;    // adjacent columns per invocation: 1, or 4 / 8 when N % NC == 0
layout(constant_id = 3) const uint KC = 256;  // K rows of A staged per step (multiple of 8)
layout(constant_id = 4) const bool ANY_GROUP = false;

shared uint xa[MT * KC / 4];  // A chunk: MT rows of KC / 4 packed words

void main() {
  uint lid = gl_LocalInvocationID.x;
  uint n0 = (gl_WorkGroupID.x * WG + lid) * NC;
  uint split = gl_WorkGroupID.y;
  uint k0 = split * pc.k_split, k1 = min(pc.K, k0 + pc.k_split);
  int acc[MT * NC];
  for (uint i = 0u; i < MT * NC; ++i) acc[i] = 0;
  uint gcur = 0xFFFFFFFFu;
  uint sc[NC], zz[NC];
  for (uint kc = k0; kc < k1; kc += KC) {
    uint kn = min(KC, k1 - kc);
    barrier();
    for (uint i = lid; i < MT * KC / 4u; i += WG) xa[i] = a4(i / (KC / 4u), kc + (i % (KC / 4u)) * 4u, k1);
    barrier();
    if (n0 >= pc.N) continue;
    for (uint kk = 0u; kk < kn; kk += 8u) {
      uint krow = kc + kk, row = (krow >> 3) * pc.N + n0;
      uint words[NC];
      if (NC == 1u) {
        words[0] = w_words[row];
      } else {
        for (uint v = 0u; v < NC / 4u; ++v) {
          uvec4 q = w_vec[(row >> 2) + v];
          words[4u * v] = q.x, words[4u * v + 1u] = q.y, words[4u * v + 2u] = q.z, words[4u * v + 3u] = q.w;
        }
      }
      uint g = krow / pc.group;
      if (!ANY_GROUP && g != gcur) {  // a new group: its scales and zeros, once
        gcur = g;
        for (uint c = 0u; c < NC; ++c) sc[c] = uint(s2[g * pc.N + n0 + c]), zz[c] = uint(zeros[g * pc.N + n0 + c]);
      }
      for (uint c = 0u; c < NC; ++c) {
        uint lo, hi;
        if (ANY_GROUP) {
          w8_word_rows(words[c], krow, n0 + c, lo, hi);
        } else {
          w8_word(words[c], sc[c], zz[c], lo, hi);
        }
        for (uint m = 0u; m < MT; ++m) {
          uint xi = (m * KC + kk) >> 2;
          acc[m * NC + c] += dot4(xa[xi], lo) + dot4(xa[xi + 1u], hi);
        }
      }
    }
  }
  if (n0 >= pc.N) return;
  for (uint c = 0u; c < NC; ++c)
    for (uint m = 0u; m < MT; ++m)
      if (m < pc.M) finish(m, n0 + c, split, acc[m * NC + c]);
}
#endif

#ifdef TILED
layout(constant_id = 0) const uint WG = 64;  // == (BM / TM) * (BN / TN)
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 128;
layout(constant_id = 3) const uint BK = 32;  // multiple of 8, divides the split-K slice
layout(constant_id = 4) const uint TM = 8;
layout(constant_id = 5) const uint TN = 16;
layout(constant_id = 6) const bool ANY_GROUP = false;

const uint KQ = BK / 4u;       // packed words per A row / W rows of packed words
const uint QA = KQ + 1u;       // As row stride (odd: the multiply's column reads spread over the banks)
const uint RM = BM / TM, RN = BN / TN;

shared uint As[BM * QA];  // A tile [BM][KQ], k contiguous
shared uint Bs[KQ * BN];  // w8' tile [KQ][BN], n contiguous

void main() {
  uint lid = gl_LocalInvocationID.x;
  uint tx = lid % RN, ty = lid / RN;
  uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  uint split = gl_WorkGroupID.z;
  uint k_begin = split * pc.k_split, k_end = min(pc.K, k_begin + pc.k_split);
  int acc[TM][TN];
  for (uint i = 0u; i < TM; ++i)
    for (uint j = 0u; j < TN; ++j) acc[i][j] = 0;
  for (uint k0 = k_begin; k0 < k_end; k0 += BK) {
    // A: packed word q of row r (q fastest: a row's words are contiguous in memory)
    for (uint e = lid; e < BM * KQ; e += WG) As[(e / KQ) * QA + e % KQ] = a4(m0 + e / KQ, k0 + (e % KQ) * 4u, k_end);
    // W: word row kw of column c, dequantized to two packed words (c fastest: neighbouring words)
    for (uint e = lid; e < (BK / 8u) * BN; e += WG) {
      uint c = e % BN, kw = e / BN, n = n0 + c, krow = k0 + kw * 8u;
      uint lo = 0u, hi = 0u;
      if (n < pc.N && krow < k_end) {
        uint word = w_words[(krow >> 3) * pc.N + n];
        if (ANY_GROUP) {
          w8_word_rows(word, krow, n, lo, hi);
        } else {
          uint g = (krow / pc.group) * pc.N + n;
          w8_word(word, uint(s2[g]), uint(zeros[g]), lo, hi);
        }
      }
      Bs[(2u * kw) * BN + c] = lo;
      Bs[(2u * kw + 1u) * BN + c] = hi;
    }
    barrier();
    [[dont_unroll]] for (uint q = 0u; q < KQ; ++q) {  // unrolled, the TM x TN products compile slowly on CPU drivers
      uint a[TM], b[TN];
      for (uint i = 0u; i < TM; ++i) a[i] = As[(ty + i * RM) * QA + q];
      for (uint j = 0u; j < TN; ++j) b[j] = Bs[q * BN + tx + j * RN];
      for (uint i = 0u; i < TM; ++i)
        for (uint j = 0u; j < TN; ++j) acc[i][j] += dot4(a[i], b[j]);
    }
    barrier();
  }
  for (uint i = 0u; i < TM; ++i)
    for (uint j = 0u; j < TN; ++j) {
      uint m = m0 + ty + i * RM, n = n0 + tx + j * RN;
      if (m < pc.M && n < pc.N) finish(m, n, split, acc[i][j]);
    }
}
#endif

#ifdef REDUCE
layout(local_size_x = 256) in;

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= pc.M * pc.N) return;
  uint mn = pc.M * pc.N, s = 0u;
  int acc = 0;
  for (; s + 8u <= pc.splits; s += 8u) {  // 8 slices' loads in flight (one memory wait per group on a GPU)
    int v[8];
    [[unroll]] for (uint j = 0u; j < 8u; ++j) v[j] = part[(s + j) * mn + i];
    [[unroll]] for (uint j = 0u; j < 8u; ++j) acc += v[j];
  }
  for (; s < pc.splits; ++s) acc += part[s * mn + i];
  store_out(i / pc.N, i % pc.N, acc);
}
#endif
