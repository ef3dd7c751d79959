// gemm_gemv.comp — the small-M path (M <= 16, memory-bound) of Y = X · Wᵀ (+ bias).
//
// int4 weights (W4), two forms picked by the launch planner (backend/gemm_plan.hpp):
// - staged (XS, the default on every device): NC adjacent output columns per invocation (1, 4 or 8: one
//   4/16/32-byte load of words per K step, neighbouring invocations read neighbouring words); the
//   workgroup stages a KC-row chunk of X in shared memory (broadcast reads); K is split across workgroups.
// - K-partitioned (KP > 1, opt-in: on an H100 it won only at M = 1, 4096 x 4096): the workgroup is
//   CT = WG / KP column threads by KP K partitions (column thread fastest, so a subgroup reads whole
//   segments of several word rows); each partition takes one contiguous run of the slice's word rows,
//   X comes from global memory (no staging barrier before the first weight load), U words' loads are
//   issued before their math, and the KP sums are added in shared memory at the end in a fixed order.
// - lane-reduced (LR, KP >= 1, variant 3): the K-partitioned geometry with nothing serial after the loads:
//   each word's 8 rows become (q - zero) * scale (exact in fp32) so that one accumulator per output
//   takes x · w directly (no per-group sum beside it), scales/zeros load once per group change, U 16-byte
//   loads go out before their math, and the KP partition sums are added by subgroup shuffles between
//   the partition lanes of one subgroup (SUBGROUP_REDUCE build, full subgroups: a reduce-scatter, so each
//   lane ends with MT * NC / lanes sums) and a shared-memory tree across subgroups that every invocation
//   takes part in (the only stage without subgroup arithmetic). Fixed order: the same bits every run.
// Each word's 8 rows become exact q - zero values (fp32 2^23 trick, or with F16_DEQUANT the fp16
// exponent trick), each group's scale is applied once to its sum, and M x NC fp32 sums accumulate.
// fp16 weights: LANES invocations share one column (16-byte loads along K) and reduce in shared
// memory. Split-K: workgroup row y handles one K slice; with more than one slice the fp32 partials go
// to a scratch buffer and gemm_reduce.comp sums them in a second dispatch, so nothing relies on
// workgroups making progress concurrently.
#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef F16_DEQUANT  // build-time variant for devices with fp16 arithmetic (shaderFloat16)
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#ifdef SUBGROUP_REDUCE  // build-time variant: LR partition sums reduced by shuffles (full subgroups only)
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
#extension GL_EXT_control_flow_attributes : require
#include "gemm_common.glsl"

layout(constant_id = 0) const uint WG = 128;   // invocations per workgroup
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MT = 1;     // accumulator rows (>= M)
layout(constant_id = 2) const bool W4 = true;  // int4 weights, else fp16
layout(constant_id = 3) const uint KC = 256;   // XS: K chunk of X staged per step (>= WG); else sizes the reduction
layout(constant_id = 4) const uint COLS = 4;   // fp16: columns per workgroup (WG / COLS lanes each)
layout(constant_id = 5) const uint NC = 1;     // int4: adjacent columns per invocation: 1, or 4 / 8 when N % NC == 0
layout(constant_id = 6) const uint KP = 1;     // int4: K partitions per workgroup (WG % KP == 0; MT * KC >= WG * NC when > 1)
layout(constant_id = 7) const bool XS = true;  // int4: X staged in shared memory (KP == 1 only), else read from global
layout(constant_id = 8) const uint RB = 1;     // int4, KP > 1: accumulator rows reduced per pass (RB * WG * NC <= MT * KC)
layout(constant_id = 9) const uint U = 4;      // int4: word rows whose loads are issued together, before their math (1 on CPU drivers: registers)
layout(constant_id = 10) const bool LR = false; // int4, !XS: the lane-reduced form (RB rows per shared-memory pass)

const uint CT = WG / KP;  // column threads per workgroup

shared vec4 smem4[MT * KC / 4];  // X chunk (XS) / K-partition sums (KP > 1) / partial sums (fp16 path)
float acc[MT * NC];  // int4: the invocation's sums (module scope: spec-constant-sized arrays are not parameters)
uint wbuf[U * NC];   // int4: the words of U word rows, loaded before their math

void red_set(uint i, float v) { smem4[i >> 2][i & 3u] = v; }
float red_get(uint i) { return smem4[i >> 2][i & 3u]; }

// The 8 X values of rows row..row+7 of row m (0 past M or K): from the staged chunk starting at row kc
// (XS), or from global memory (one 16-byte load when rows are 16-byte aligned).
void x8(uint m, uint row, uint kc, out vec4 xa, out vec4 xb) {
  if (XS) {
    xa = smem4[(m * KC + row - kc) >> 2], xb = smem4[((m * KC + row - kc) >> 2) + 1u];
  } else if (m >= pc.M) {
    xa = vec4(0.0), xb = vec4(0.0);
  } else if ((pc.K & 7u) == 0u) {
    uvec4 v = x_vec[(m * pc.K + row) >> 3];
    xa = vec4(unpackHalf2x16(v.x), unpackHalf2x16(v.y));
    xb = vec4(unpackHalf2x16(v.z), unpackHalf2x16(v.w));
  } else {
    [[unroll]] for (uint c = 0; c < 4u; ++c) {
      xa[c] = row + c < pc.K ? half_at(m * pc.K + row + c) : 0.0;
      xb[c] = row + 4u + c < pc.K ? half_at(m * pc.K + row + 4u + c) : 0.0;
    }
  }
}

// q - zero of rows 0..3 (lo) and 4..7 (hi) of one word, exact; zb = 2^23 + zero.
void dequant_word(uint word, float zb, out vec4 lo, out vec4 hi) {
#ifdef F16_DEQUANT
  // MARLIN's exponent trick: (word >> 4i) & 0x000F000F | 0x64006400 is the fp16 pair
  // (1024 + q[2i], 1024 + q[2i + 1]); one fp16x2 subtract of 1024 + zero leaves q - zero.
  f16vec2 zz = f16vec2(float16_t(zb - 8388608.0 + 1024.0));
  f16vec2 p0 = unpackFloat2x16((word & 0x000F000Fu) | 0x64006400u) - zz;
  f16vec2 p1 = unpackFloat2x16(((word >> 4u) & 0x000F000Fu) | 0x64006400u) - zz;
  f16vec2 p2 = unpackFloat2x16(((word >> 8u) & 0x000F000Fu) | 0x64006400u) - zz;
  f16vec2 p3 = unpackFloat2x16(((word >> 12u) & 0x000F000Fu) | 0x64006400u) - zz;
  lo = vec4(vec2(p0), vec2(p1));
  hi = vec4(vec2(p2), vec2(p3));
#else
  // portable: nibble | 0x4B000000 is the float 2^23 + q; an OR and a subtract give q - zero
  lo = uintBitsToFloat(((uvec4(word) >> uvec4(0, 16, 4, 20)) & 0xFu) | 0x4B000000u) - zb;
  hi = uintBitsToFloat(((uvec4(word) >> uvec4(8, 24, 12, 28)) & 0xFu) | 0x4B000000u) - zb;
#endif
}

// 2^23 + the zero point of scale index i (8 without zeros). The load is unconditional (index 0 of the
// bound dummy buffer without zeros) and so are the callers' word loads (a word row past the range is
// clamped to its last row and not used): a load inside a branch made RADV's compiler wait for it before
// the branch (RDNA3 statistics: every scale and zero of a group loaded one DRAM latency after another,
// each batch of U word loads split by waits); NVIDIA's compiler loses nothing by it.
float zero_base(uint i, bool has_zeros) {
  float z = float(uint(zeros[has_zeros ? i : 0u]));
  return 8388608.0 + (has_zeros ? z : 8.0);
}

// Words of word row `row` (absolute) for the NC columns from n0, into wbuf[u * NC ...].
void load_words(uint row, uint n0, uint u) {
  uint r = row - pc.kw_base;
  if (NC == 1u) {
    wbuf[u] = w_words[r * pc.N + n0];
  } else {
    [[unroll]] for (uint v = 0; v < NC / 4u; ++v) {
      uvec4 q = w_vec[((r * pc.N + n0) >> 2) + v];
      uint b = u * NC + 4u * v;
      wbuf[b] = q.x, wbuf[b + 1u] = q.y, wbuf[b + 2u] = q.z, wbuf[b + 3u] = q.w;
    }
  }
}

// Adds rows [r0, r1) of the K dimension (r0 a multiple of 8 or a group start) into acc, group by group:
// scales and zeros once per group, sum (q - zero) * x, then scale the group's sums. A group need not be
// a multiple of 8 rows: a word that straddles two groups is visited once per group, its rows outside
// the current group masked to 0. kc: first row of the staged X chunk (XS). primed: wbuf already holds
// the U word rows at r0 (the staged form loads them before its barriers; a short group that comes back
// to them finds them there).
void accumulate(uint r0, uint r1, uint kc, uint n0, uint n_end, bool primed) {
  bool has_zeros = (pc.flags & FLAG_ZEROS) != 0u;
  uint r = r0;
  while (r < r1) {
    uint g = r / pc.group;
    uint gbegin = g * pc.group, glen = pc.group;  // absolute rows [gbegin, gbegin + glen)
    uint gend = min(r1, gbegin + glen);
    float s[NC], zb[NC];
    [[unroll]] for (uint c = 0; c < NC; ++c) {
      uint n = min(n0 + c, n_end - 1u);
      s[c] = scale_at(g * pc.N + n);
      zb[c] = zero_base(g * pc.N + n, has_zeros);
    }
    float part[MT * NC];
    [[unroll]] for (uint i = 0; i < MT * NC; ++i) part[i] = 0.0;
    for (uint k = r & ~7u; k < gend; k += 8u * U) {
      if (!primed || k != r0)
        [[unroll]] for (uint u = 0; u < U; ++u)  // the loads of U words first, so they are in flight together
          load_words(min((k >> 3) + u, (gend - 1u) >> 3), n0, u);
      [[unroll]] for (uint u = 0; u < U; ++u) {
        uint kk = k + 8u * u;
        if (kk >= gend) break;
        vec4 lo[NC], hi[NC];  // q - zero of rows 0..3 and 4..7, exact
        [[unroll]] for (uint c = 0; c < NC; ++c) {
          dequant_word(wbuf[u * NC + c], zb[c], lo[c], hi[c]);
        }
        if (kk < gbegin || kk + 8u > gbegin + glen) {  // word straddles a group edge (uniform)
          bvec4 in_lo, in_hi;
          word_rows_in_group(kk, gbegin, glen, in_lo, in_hi);
          [[unroll]] for (uint c = 0; c < NC; ++c) lo[c] = mix(vec4(0.0), lo[c], in_lo), hi[c] = mix(vec4(0.0), hi[c], in_hi);
        }
        [[unroll]] for (uint m = 0; m < MT; ++m) {
          vec4 xa, xb;
          x8(m, kk, kc, xa, xb);
          [[unroll]] for (uint c = 0; c < NC; ++c) part[m * NC + c] += dot(xa, lo[c]) + dot(xb, hi[c]);
        }
      }
    }
    r = gend;  // the next group may begin inside the last word
    [[unroll]] for (uint m = 0; m < MT; ++m)
      [[unroll]] for (uint c = 0; c < NC; ++c) acc[m * NC + c] += part[m * NC + c] * s[c];
  }
}

// KP > 1: the partitions' sums of each output, added in a fixed order, left in acc of the output's
// owner (partition 0). RB accumulator rows per pass: every invocation parks its sums ([row][partition]
// [column thread][column]); T invocations per output each add KP / T consecutive partitions, and the
// owner adds those T partials.
void reduce_partitions(uint kp, uint ct) {
  const uint O = RB * CT * NC;  // outputs per pass
  const uint T = WG / O;        // invocations per output (>= 1: the planner keeps O <= WG)
  uint lid = gl_LocalInvocationID.x;
  for (uint mb = 0; mb < MT; mb += RB) {
    barrier();
    [[unroll]] for (uint r = 0; r < RB; ++r)
      [[unroll]] for (uint c = 0; c < NC; ++c) red_set(((r * KP + kp) * CT + ct) * NC + c, acc[(mb + r) * NC + c]);
    barrier();
    uint o = lid / T, t = lid % T;  // output o = (row r, column thread, column), share t
    uint r = o / (CT * NC), cc = o % (CT * NC);
    float partial = 0.0;
    for (uint j = t * (KP / T); j < (t + 1u) * (KP / T); ++j) partial += red_get((r * KP + j) * CT * NC + cc);
    barrier();
    red_set(lid, partial);  // = o * T + t
    barrier();
    if (kp == 0u)
      [[unroll]] for (uint rr = 0; rr < RB; ++rr)
        [[unroll]] for (uint c = 0; c < NC; ++c) {
          uint oo = (rr * CT + ct) * NC + c;
          float v = 0.0;
          [[unroll]] for (uint j = 0; j < T; ++j) v += red_get(oo * T + j);
          acc[(mb + rr) * NC + c] = v;
        }
  }
}

// int4, staged (XS, KP = 1) or K-partitioned (KP >= 1, X from global memory). Staged: the workgroup
// stages a KC-row chunk of X in shared memory (broadcast reads), each chunk's first U word rows loaded
// before the staging barriers (they need no X); U = 1 on CPU drivers. Partitioned: each of the KP
// partitions takes one contiguous run of the slice's word rows, and their sums are added at the end.
void gemv_w4() {
  uint lid = gl_LocalInvocationID.x;
  uint ct = lid % CT, kp = lid / CT;
  uint n0 = pc.n_base + (gl_WorkGroupID.x * CT + ct) * NC;
  uint n_end = pc.n_base + pc.n_count;
  uint split = pc.split_base + gl_WorkGroupID.y;
  uint k0 = split * pc.k_split, k1 = min(pc.K, k0 + pc.k_split);
  [[unroll]] for (uint i = 0; i < MT * NC; ++i) acc[i] = 0.0;
  if (XS) {
    for (uint kc = k0; kc < k1; kc += KC) {
      uint kn = min(KC, k1 - kc);
      if (n0 < n_end)
        [[unroll]] for (uint u = 0; u < U; ++u) load_words((kc >> 3) + min(u, (kn - 1u) >> 3), n0, u);
      barrier();
      for (uint i = lid; i < MT * KC / 4u; i += WG) {
        uint m = i / (KC / 4u), kq = (i % (KC / 4u)) * 4u;
        vec4 v;
        [[unroll]] for (uint c = 0; c < 4u; ++c) {  // unconditional loads (clamped), in flight together
          float h = half_at(min(m, pc.M - 1u) * pc.K + kc + min(kq + c, kn - 1u));
          v[c] = m < pc.M && kq + c < kn ? h : 0.0;
        }
        smem4[i] = v;
      }
      barrier();
      if (n0 < n_end) accumulate(kc, kc + kn, kc, n0, n_end, true);
    }
  } else {
    // this partition's run of whole word rows of the slice
    uint words = (k1 - k0 + 7u) >> 3, run = (words + KP - 1u) / KP;
    uint r0 = min(k1, k0 + kp * run * 8u), r1 = min(k1, r0 + run * 8u);
    if (n0 < n_end) accumulate(r0, r1, 0u, n0, n_end, false);
  }
  if (KP > 1u) {
    reduce_partitions(kp, ct);
    if (kp != 0u) return;
  }
  [[unroll]] for (uint c = 0; c < NC; ++c) {
    uint n = n0 + c;
    if (n >= n_end) break;
    [[unroll]] for (uint m = 0; m < MT; ++m) {
      if (m >= pc.M) break;
      finish_value(m, n, split, acc[m * NC + c]);
    }
  }
}

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
  [[unroll]] for (uint m = 0; m < MT; ++m) acc[m] = 0.0;
  if (n < n_end) {
    if ((pc.K & 7u) == 0u) {
      for (uint k = k0 + lane * 8u; k < k1; k += LANES * 8u) {
        uvec4 wv = w_vec[(nl * pc.K + k) >> 3];
        vec2 w0 = unpackHalf2x16(wv.x), w1 = unpackHalf2x16(wv.y), w2 = unpackHalf2x16(wv.z), w3 = unpackHalf2x16(wv.w);
        [[unroll]] for (uint m = 0; m < MT; ++m) {
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
        [[unroll]] for (uint m = 0; m < MT; ++m) {
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

// LR: scales and 2^23 + zeros of the group cached for the NC columns, the first row past that group,
// and one word's scaled weights (rows 0..3 / 4..7 of each column).
float gs[NC], gz[NC];
uint gnext;
vec4 wlo[NC], whi[NC];

// LR: (q - zero) * scale of the word in wbuf slot `slot` (absolute first row `row`) into wlo / whi, exact;
// the group's scales and zeros load once, when `row` passes the cached group. A word that straddles
// group edges (groups that are no multiple of 8 rows) takes each row's own group.
void scaled_word(uint slot, uint row, uint n0, uint n_end) {
  if (row >= gnext) {
    uint g = row / pc.group;
    bool has_zeros = (pc.flags & FLAG_ZEROS) != 0u;
    for (uint c = 0u; c < NC; ++c) {
      uint n = min(n0 + c, n_end - 1u);
      gs[c] = scale_at(g * pc.N + n);
      gz[c] = zero_base(g * pc.N + n, has_zeros);
    }
    gnext = (g + 1u) * pc.group;
  }
  bool straddles = row + 8u > gnext && gnext < pc.K;
  for (uint c = 0u; c < NC; ++c) {
    uint word = wbuf[slot * NC + c];
    if (straddles) {
      float w8[8];
      dequant8_rows(word, row, min(n0 + c, n_end - 1u), w8);
      wlo[c] = vec4(w8[0], w8[1], w8[2], w8[3]), whi[c] = vec4(w8[4], w8[5], w8[6], w8[7]);
    } else {
      dequant_word(word, gz[c], wlo[c], whi[c]);
      wlo[c] *= gs[c], whi[c] *= gs[c];
    }
  }
}

// LR: adds word rows [w0, w1) into acc: U words' loads issued first, then per word one scaled
// dequant and one dot per row of X into the output's only accumulator.
void accumulate_scaled(uint w0, uint w1, uint n0, uint n_end) {
  gnext = 0u;
  for (uint w = w0; w < w1; w += U) {
    for (uint u = 0u; u < U; ++u) load_words(min(w + u, w1 - 1u), n0, u);  // (past w1 a repeat, unused: see zero_base)
    for (uint u = 0u; u < U; ++u) {
      if (w + u < w1) {
        uint row = (w + u) * 8u;
        scaled_word(u, row, n0, n_end);
        for (uint m = 0u; m < MT; ++m) {
          vec4 xa, xb;
          x8(m, row, 0u, xa, xb);
          for (uint c = 0u; c < NC; ++c) acc[m * NC + c] += dot(xa, wlo[c]) + dot(xb, whi[c]);
        }
      }
    }
  }
}

// LR: the KP partition sums of each of the workgroup's outputs, added in a fixed order, and stored.
// v: the invocation's place (subgroup-major), ct its column thread, kp its partition.
// 1. (SUBGROUP_REDUCE) a reduce-scatter over the partition lanes of one subgroup (lane bits CT, 2CT, ...):
//    each step a lane keeps half of its sums plus the partner's copy of that half and sends the other
//    half, for L = min(partition lanes, MT * NC) lanes; each group of L lanes then holds one slot.
// 2. the slots of each output in shared memory ([output][slot], odd stride), added by a pairwise tree
//    whose pairs every invocation shares; RB accumulator rows (RB * NC sums per column thread) per pass.
void reduce_lanes_and_finish(uint v, uint ct, uint kp, uint colbase, uint n_end, uint split) {
  const uint A = MT * NC;
  uint held = A, base = 0u, slot = kp, slots = KP;
#ifdef SUBGROUP_REDUCE
  uint sg = gl_SubgroupSize;
  [[unroll]] for (uint s = 0u; s < 8u; ++s) {
    uint o = CT << s;
    const uint h = A >> (s + 1u);
    if (o >= sg || h == 0u) break;
    bool upper = (v & o) != 0u;
    [[unroll]] for (uint i = 0u; i < h; ++i) {
      float keep = upper ? acc[i + h] : acc[i], send = upper ? acc[i] : acc[i + h];
      acc[i] = keep + subgroupShuffleXor(send, o);
    }
    if (upper) base += h;
    held = h;
  }
  uint lanes = min(sg > CT ? sg / CT : 1u, A);  // L: partition lanes reduced together
  slot = kp / lanes, slots = KP / lanes;
#endif
  const uint JB = RB * NC;
  uint sp = slots > 1u ? slots + 1u : 1u;
  uint lid = gl_LocalInvocationID.x;
  for (uint jb = 0u; jb < A; jb += JB) {
    barrier();
    [[unroll]] for (uint i = 0u; i < A; ++i)
      if (i < held && base + i >= jb && base + i < jb + JB) red_set(((base + i - jb) * CT + ct) * sp + slot, acc[i]);
    barrier();
    for (uint h = slots / 2u; h > 0u; h >>= 1u) {
      for (uint t = lid; t < JB * CT * h; t += WG) {
        uint o = t / h, j = t % h;
        red_set(o * sp + j, red_get(o * sp + j) + red_get(o * sp + j + h));
      }
      barrier();
    }
    for (uint t = lid; t < JB * CT; t += WG) {  // output (sum jb + t / CT, column thread t % CT)
      uint j = jb + t / CT, m = j / NC, n = colbase + (t % CT) * NC + j % NC;
      if (m < pc.M && n < n_end) finish_value(m, n, split, red_get(t * sp));
    }
  }
}

// LR: the lane-reduced form (see the top of this file); no barrier before the first weight loads.
void gemv_w4_lanes() {
#ifdef SUBGROUP_REDUCE
  uint v = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
#else
  uint v = gl_LocalInvocationID.x;
#endif
  uint ct = v % CT, kp = v / CT;
  uint colbase = pc.n_base + gl_WorkGroupID.x * CT * NC, n0 = colbase + ct * NC;
  uint n_end = pc.n_base + pc.n_count;
  uint split = pc.split_base + gl_WorkGroupID.y;
  uint k0 = split * pc.k_split, k1 = min(pc.K, k0 + pc.k_split);
  [[unroll]] for (uint i = 0u; i < MT * NC; ++i) acc[i] = 0.0;
  // this partition's run of the slice's word rows
  uint wbeg = k0 >> 3, wend = (k1 + 7u) >> 3, run = (wend - wbeg + KP - 1u) / KP;
  uint w0 = min(wend, wbeg + kp * run), w1 = min(wend, w0 + run);
  if (n0 < n_end) accumulate_scaled(w0, w1, n0, n_end);
  reduce_lanes_and_finish(v, ct, kp, colbase, n_end, split);
}

void main() {
  if (W4 && LR) {
    gemv_w4_lanes();
  } else if (W4) {
    gemv_w4();
  } else {
    gemv_f16();
  }
}
