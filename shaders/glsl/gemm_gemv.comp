// gemm_gemv.comp — the small-M path (M <= 16, memory-bound) of Y = X · Wᵀ (+ bias).
//
// int4 weights (W4): NC adjacent output columns per invocation (1, 4 or 8: one 16/32-byte load of
// words per K step, neighbouring invocations read neighbouring words); the workgroup stages a K chunk
// of all M rows of X in shared memory (broadcast reads); each word's 8 rows become exact q - zero
// values (fp32 2^23 trick, or with F16_DEQUANT the fp16 exponent trick), each group's scale is applied
// once to its sum, and M x NC fp32 sums accumulate. fp16 weights: LANES invocations share one column (16-byte loads along K) and reduce in
// shared memory. Split-K: workgroup row y handles one K slice; with more than one slice the fp32
// partials go to a scratch buffer and gemm_reduce.comp sums them in a second dispatch, so nothing
// relies on workgroups making progress concurrently.
#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef F16_DEQUANT  // build-time variant for devices with fp16 arithmetic (shaderFloat16)
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#include "gemm_common.glsl"

layout(constant_id = 0) const uint WG = 128;   // invocations per workgroup
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MT = 1;     // accumulator rows (>= M)
layout(constant_id = 2) const bool W4 = true;  // int4 weights, else fp16
layout(constant_id = 3) const uint KC = 256;   // K chunk of X staged per step (W4); must be >= WG
layout(constant_id = 4) const uint COLS = 4;   // fp16: columns per workgroup (WG / COLS lanes each)

layout(constant_id = 5) const uint NC = 1;    // int4: adjacent columns per invocation: 1, or 4 / 8 when N % NC == 0

shared vec4 smem4[MT * KC / 4];  // X chunk (int4 path) / partial sums (fp16 path)

void gemv_w4() {
  uint lid = gl_LocalInvocationID.x;
  uint n0 = pc.n_base + (gl_WorkGroupID.x * WG + lid) * NC;
  uint n_end = pc.n_base + pc.n_count;
  uint split = pc.split_base + gl_WorkGroupID.y;
  uint k0 = split * pc.k_split, k1 = min(pc.K, k0 + pc.k_split);
  bool has_zeros = (pc.flags & FLAG_ZEROS) != 0u;
  float acc[MT * NC];
  for (uint i = 0; i < MT * NC; ++i) acc[i] = 0.0;
  for (uint kc = k0; kc < k1; kc += KC) {
    uint kn = min(KC, k1 - kc);
    barrier();
    for (uint i = lid; i < MT * KC / 4u; i += WG) {
      uint m = i / (KC / 4u), kq = (i % (KC / 4u)) * 4u;
      vec4 v = vec4(0.0);
      if (m < pc.M)
        for (uint c = 0; c < 4u; ++c)
          if (kq + c < kn) v[c] = half_at(m * pc.K + kc + kq + c);
      smem4[i] = v;
    }
    barrier();
    if (n0 < n_end) {
      // one group at a time: scales and zeros once, sum (q - zero) * x, then scale the group's sums.
      // A group need not be a multiple of 8 rows: a word that straddles two groups is visited once
      // per group, its rows outside the current group masked to 0.
      uint kk = 0u;
      while (kk < kn) {
        uint g = (kc + kk) / pc.group;
        uint gbegin = g * pc.group, glen = pc.group;  // absolute rows [gbegin, gbegin + glen)
        uint gend = min(kn, gbegin + glen - kc);
        float s[NC], zb[NC];
        for (uint c = 0; c < NC; ++c) {
          uint n = min(n0 + c, n_end - 1u);
          s[c] = scale_at(g * pc.N + n);
          zb[c] = 8388608.0 + (has_zeros ? float(uint(zeros[g * pc.N + n])) : 8.0);
        }
        float part[MT * NC];
        for (uint i = 0; i < MT * NC; ++i) part[i] = 0.0;
        for (kk &= ~7u; kk < gend; kk += 8u) {
          uint row = ((kc + kk) >> 3) - pc.kw_base;
          uint words[NC];
          if (NC == 1u) {
            words[0] = w_words[row * pc.N + n0];
          } else {
            for (uint v = 0; v < NC / 4u; ++v) {
              uvec4 q = w_vec[((row * pc.N + n0) >> 2) + v];
              words[4u * v] = q.x, words[4u * v + 1u] = q.y, words[4u * v + 2u] = q.z, words[4u * v + 3u] = q.w;
            }
          }
          vec4 lo[NC], hi[NC];  // q - zero of rows 0..3 and 4..7, exact
          for (uint c = 0; c < NC; ++c) {
#ifdef F16_DEQUANT
            // MARLIN's exponent trick: (word >> 4i) & 0x000F000F | 0x64006400 is the fp16 pair
            // (1024 + q[2i], 1024 + q[2i + 1]); one fp16x2 subtract of 1024 + zero leaves q - zero.
            f16vec2 zz = f16vec2(float16_t(zb[c] - 8388608.0 + 1024.0));
            f16vec2 p0 = unpackFloat2x16((words[c] & 0x000F000Fu) | 0x64006400u) - zz;
            f16vec2 p1 = unpackFloat2x16(((words[c] >> 4u) & 0x000F000Fu) | 0x64006400u) - zz;
            f16vec2 p2 = unpackFloat2x16(((words[c] >> 8u) & 0x000F000Fu) | 0x64006400u) - zz;
            f16vec2 p3 = unpackFloat2x16(((words[c] >> 12u) & 0x000F000Fu) | 0x64006400u) - zz;
            lo[c] = vec4(vec2(p0), vec2(p1));
            hi[c] = vec4(vec2(p2), vec2(p3));
#else
            // portable: nibble | 0x4B000000 is the float 2^23 + q; an OR and a subtract give q - zero
            lo[c] = uintBitsToFloat(((uvec4(words[c]) >> uvec4(0, 16, 4, 20)) & 0xFu) | 0x4B000000u) - zb[c];
            hi[c] = uintBitsToFloat(((uvec4(words[c]) >> uvec4(8, 24, 12, 28)) & 0xFu) | 0x4B000000u) - zb[c];
#endif
          }
          if (kc + kk < gbegin || kc + kk + 8u > gbegin + glen) {  // word straddles a group edge (uniform)
            bvec4 in_lo, in_hi;
            word_rows_in_group(kc + kk, gbegin, glen, in_lo, in_hi);
            for (uint c = 0; c < NC; ++c) lo[c] = mix(vec4(0.0), lo[c], in_lo), hi[c] = mix(vec4(0.0), hi[c], in_hi);
          }
          for (uint m = 0; m < MT; ++m) {
            vec4 xa = smem4[(m * KC + kk) >> 2], xb = smem4[((m * KC + kk) >> 2) + 1u];
            for (uint c = 0; c < NC; ++c) part[m * NC + c] += dot(xa, lo[c]) + dot(xb, hi[c]);
          }
        }
        kk = gend;  // the next group may begin inside the last word
        for (uint m = 0; m < MT; ++m)
          for (uint c = 0; c < NC; ++c) acc[m * NC + c] += part[m * NC + c] * s[c];
      }
    }
  }
  for (uint c = 0; c < NC; ++c) {
    uint n = n0 + c;
    if (n >= n_end) break;
    for (uint m = 0; m < MT; ++m) {
      if (m >= pc.M) break;
      finish_value(m, n, split, acc[m * NC + c]);
    }
  }
}

void red_set(uint i, float v) { smem4[i >> 2][i & 3u] = v; }
float red_get(uint i) { return smem4[i >> 2][i & 3u]; }

void gemv_f16() {
  const uint LANES = WG / COLS;
  uint lid = gl_LocalInvocationID.x;
  uint c = lid / LANES, lane = lid % LANES;
  uint n = pc.n_base + gl_WorkGroupID.x * COLS + c;
  uint n_end = pc.n_base + pc.n_count;
  uint nl = n - pc.n_base;  // row of the bound W range
  uint split = pc.split_base + gl_WorkGroupID.y;
  uint k0 = split * pc.k_split, k1 = min(pc.K, k0 + pc.k_split);
  float acc[MT];
  for (uint m = 0; m < MT; ++m) acc[m] = 0.0;
  if (n < n_end) {
    if ((pc.K & 7u) == 0u) {
      for (uint k = k0 + lane * 8u; k < k1; k += LANES * 8u) {
        uvec4 wv = w_vec[(nl * pc.K + k) >> 3];
        vec2 w0 = unpackHalf2x16(wv.x), w1 = unpackHalf2x16(wv.y), w2 = unpackHalf2x16(wv.z), w3 = unpackHalf2x16(wv.w);
        for (uint m = 0; m < MT; ++m) {
          if (m >= pc.M) break;
          uvec4 xv = x_vec[(m * pc.K + k) >> 3];
          acc[m] += dot(unpackHalf2x16(xv.x), w0) + dot(unpackHalf2x16(xv.y), w1) +
                    dot(unpackHalf2x16(xv.z), w2) + dot(unpackHalf2x16(xv.w), w3);
        }
      }
    } else {
      for (uint k = k0 + lane; k < k1; k += LANES) {
        uint wi = nl * pc.K + k;
        vec2 wp = unpackHalf2x16(w_words[wi >> 1]);
        float w = (wi & 1u) == 0u ? wp.x : wp.y;
        for (uint m = 0; m < MT; ++m) {
          if (m >= pc.M) break;
          acc[m] += half_at(m * pc.K + k) * w;
        }
      }
    }
  }
  // reduce the LANES partial sums of each column
  for (uint m = 0; m < MT; ++m) red_set((c * MT + m) * LANES + lane, acc[m]);
  barrier();
  for (uint stride = LANES / 2u; stride > 0u; stride >>= 1) {
    if (lane < stride)
      for (uint m = 0; m < MT; ++m) red_set((c * MT + m) * LANES + lane, red_get((c * MT + m) * LANES + lane) + red_get((c * MT + m) * LANES + lane + stride));
    barrier();
  }
  if (lane == 0u && n < n_end) {
    for (uint m = 0; m < MT; ++m) acc[m] = red_get((c * MT + m) * LANES);
    for (uint m = 0; m < MT; ++m) {
      if (m >= pc.M) break;
      finish_value(m, n, split, acc[m]);
    }
  }
}

void main() {
  if (W4) {
    gemv_w4();
  } else {
    gemv_f16();
  }
}
