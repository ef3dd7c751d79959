// gemm_tiled.comp — the larger-M path of Y = X · Wᵀ (+ bias), int4 (W4) or fp16 weights: BM x BN
// output tiles, K in steps of BK, a STAGES-deep software pipeline (asynchronous dequantization):
//   STAGES = 1  serial: load step t, dequantize it into shared memory, barrier, multiply, barrier.
//   STAGES = 2  double buffer: the loads of step t+1 are issued before step t is multiplied, then
//               dequantized into the other shared buffer.
//   STAGES >= 3 the loads of step t+S-1 are issued into one of S-1 register slots, then step t+1
//               (loaded S-2 steps ago) is dequantized into the other shared buffer, then step t is
//               multiplied: S-1 steps of global loads in flight, one barrier per step.
// The main loop is unrolled by S-1 so that every register slot index is a constant (no scratch).
// Every variant multiplies the same values in the same order (fma, k ascending per accumulator; the
// tile shape does not change it), so their results are bit-identical. Each invocation owns TM x TN accumulators: rows ty + i*(BM/TM),
// column quads tx + j*(BN/TN) (interleaved, so neighbouring invocations read neighbouring words).
// Tile shapes come from backend/tiled_config.hpp (WG = (BM/TM) * (BN/TN), TN a multiple of 4).
// Workgroup z is the K slice (split-K), reduced by gemm_reduce.comp; gemm.cl runs the same algorithm.
//
// Shared memory (no bank conflicts on the patterns used; 32 banks of 4 bytes, a 16-byte access is
// served per quarter warp of 8 lanes):
//   As [BM][BK + 4] fp32 as vec4, k contiguous. Loader lanes take consecutive rows (row fastest) and
//      store 16 bytes each: the row stride BK/4 + 1 quads is odd, so 8 lanes hit 8 distinct quads
//      mod 8 = all 32 banks. Readers: lanes of a quarter warp share ty (BN/TN >= 8): a broadcast.
//   Bs [BK][BN] fp32 as vec4, n contiguous. Loader lanes take consecutive column quads and store 16
//      bytes per K row; readers read consecutive quads per lane: conflict-free without padding.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "gemm_common.glsl"

layout(constant_id = 0) const uint WG = 256;  // must equal (BM / TM) * (BN / TN)
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 128;
layout(constant_id = 3) const uint BK = 16;   // multiple of 8
layout(constant_id = 4) const uint TM = 8;
layout(constant_id = 5) const uint TN = 4;    // multiple of 4
layout(constant_id = 6) const bool W4 = true;
layout(constant_id = 7) const bool ANY_GROUP = false;  // group % 8 != 0: a weight word may straddle two groups
layout(constant_id = 8) const uint STAGES = 3;

const uint QA = BK / 4u + 1u;                   // vec4 quads per As row (odd: see above)
const uint QB = BN / 4u;                        // vec4 quads per Bs row
const uint NBUF = STAGES == 1u ? 1u : 2u;       // shared buffers
const uint SLOTS = STAGES > 2u ? STAGES - 1u : 1u;  // register slots of global loads
const uint XC = BM * BK / 8u;                   // 8-half X chunks per step
const uint WC = (BK / 8u) * QB;                 // (word row, column quad) weight chunks per step
const uint XL = (XC + WG - 1u) / WG;            // X chunks per invocation per step
const uint WL = (WC + WG - 1u) / WG;            // weight chunks per invocation per step
const uint RM = BM / TM, RN = BN / TN;          // invocation rows / columns
const uint TQ = TN / 4u;                        // column quads per invocation

shared vec4 As[NBUF * BM * QA];
shared vec4 Bs[NBUF * BK * QB];

// One step's global loads, held in registers until they are dequantized into shared memory:
// X as raw fp16 (8 halves per uvec4); W4 as one word per column of a quad (8 K rows each) with its
// scales and zero points; fp16 W as 8 halves per column of a quad.
uvec4 rx[SLOTS][XL];
uvec4 rw[SLOTS][WL][W4 ? 1 : 4];
vec4 rs[SLOTS][WL];
vec4 rz[SLOTS][WL];

uint k_begin, k_end;  // this workgroup's K slice

uint half_bits(uint idx) { return (x_words[idx >> 1] >> ((idx & 1u) * 16u)) & 0xFFFFu; }
uint w16_bits(uint idx) { return (w_words[idx >> 1] >> ((idx & 1u) * 16u)) & 0xFFFFu; }

// 8 halves starting at element `base` (of X if x, else of fp16 W), those at k >= k_end as 0: one
// 16-byte load when K % 8 == 0 (then base % 8 == 0 and the chunk lies wholly inside or outside).
uvec4 load8(bool x, uint base, uint k) {
  if (pc.K % 8u == 0u) {
    if (k >= k_end) return uvec4(0u);
    return x ? x_vec[base >> 3] : w_vec[base >> 3];
  }
  uint h[8];
  for (uint j = 0u; j < 8u; ++j) h[j] = k + j < k_end ? (x ? half_bits(base + j) : w16_bits(base + j)) : 0u;
  return uvec4(h[0] | (h[1] << 16), h[2] | (h[3] << 16), h[4] | (h[5] << 16), h[6] | (h[7] << 16));
}

void load_step(uint slot, uint t) {
  uint lid = gl_LocalInvocationID.x;
  uint k0 = k_begin + t * BK;
  uint m0 = gl_WorkGroupID.y * BM, n0 = pc.n_base + gl_WorkGroupID.x * BN;
  uint n_end = pc.n_base + pc.n_count;
  [[unroll]] for (uint i = 0u; i < XL; ++i) {
    uint e = lid + i * WG;
    uint r = e % BM, k = k0 + (e / BM) * 8u;  // row fastest: see the As layout above
    rx[slot][i] = e < XC && m0 + r < pc.M ? load8(true, (m0 + r) * pc.K + k, k) : uvec4(0u);
  }
  uint groups = pc.K / max(pc.group, 1u);
  [[unroll]] for (uint i = 0u; i < WL; ++i) {
    uint e = lid + i * WG;
    uint n = n0 + (e % QB) * 4u, krow = k0 + (e / QB) * 8u;
    bool ok = e < WC && krow < k_end;
    if (W4) {
      uint row = ((krow >> 3) - pc.kw_base) * pc.N;
      uint g = min(krow / pc.group, groups - 1u);
      if (ok && pc.N % 4u == 0u && n + 3u < n_end) {
        rw[slot][i][0] = w_vec[(row + n) >> 2];
      } else {
        uvec4 q = uvec4(0u);
        [[unroll]] for (uint c = 0u; c < 4u; ++c)
          if (ok && n + c < n_end) q[c] = w_words[row + n + c];
        rw[slot][i][0] = q;
      }
      [[unroll]] for (uint c = 0u; c < 4u; ++c) {
        bool inside = ok && n + c < n_end;
        rs[slot][i][c] = inside ? scale_at(g * pc.N + n + c) : 0.0;
        rz[slot][i][c] = inside && (pc.flags & FLAG_ZEROS) != 0u ? float(uint(zeros[g * pc.N + n + c])) : 8.0;
      }
    } else {
      [[unroll]] for (uint c = 0u; c < 4u; ++c)
        rw[slot][i][c] = ok && n + c < n_end ? load8(false, (n + c - pc.n_base) * pc.K + krow, krow) : uvec4(0u);
    }
  }
}

void unpack8(uvec4 h, out vec4 lo, out vec4 hi) {
  lo = vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
  hi = vec4(unpackHalf2x16(h.z), unpackHalf2x16(h.w));
}

// Registers of `slot` (step t) -> shared buffer `buf`: X as fp32, int4 weights dequantized.
void store_step(uint slot, uint buf, uint t) {
  uint lid = gl_LocalInvocationID.x;
  uint k0 = k_begin + t * BK;
  [[unroll]] for (uint i = 0u; i < XL; ++i) {
    uint e = lid + i * WG;
    if (e >= XC) continue;
    vec4 lo, hi;
    unpack8(rx[slot][i], lo, hi);
    uint a = buf * BM * QA + (e % BM) * QA + (e / BM) * 2u;
    As[a] = lo;
    As[a + 1u] = hi;
  }
  [[unroll]] for (uint i = 0u; i < WL; ++i) {
    uint e = lid + i * WG;
    if (e >= WC) continue;
    uint cq = e % QB, kw = e / QB;
    float w[4][8];
    if (W4) {
      uint n = pc.n_base + gl_WorkGroupID.x * BN + cq * 4u, krow = k0 + kw * 8u;
      [[unroll]] for (uint c = 0u; c < 4u; ++c) {
        if (ANY_GROUP && krow < k_end && n + c < pc.n_base + pc.n_count)
          dequant8_rows(rw[slot][i][0][c], krow, n + c, w[c]);  // the word may straddle groups
        else
          dequant8(rw[slot][i][0][c], rz[slot][i][c], rs[slot][i][c], w[c]);
      }
    } else {
      [[unroll]] for (uint c = 0u; c < 4u; ++c) {
        vec4 lo, hi;
        unpack8(rw[slot][i][c], lo, hi);
        [[unroll]] for (uint j = 0u; j < 4u; ++j) {
          w[c][j] = lo[j];
          w[c][j + 4u] = hi[j];
        }
      }
    }
    [[unroll]] for (uint j = 0u; j < 8u; ++j) Bs[buf * BK * QB + (kw * 8u + j) * QB + cq] = vec4(w[0][j], w[1][j], w[2][j], w[3][j]);
  }
}

// acc += the BK-row product of shared buffer `buf`: per k, TM rows x TN columns of fma, k ascending.
void multiply(uint buf, inout float acc[TM][TN]) {
  uint tx = gl_LocalInvocationID.x % RN, ty = gl_LocalInvocationID.x / RN;
  for (uint kq = 0u; kq < BK / 4u; ++kq) {
    vec4 a[TM];
    [[unroll]] for (uint i = 0u; i < TM; ++i) a[i] = As[buf * BM * QA + (ty + i * RM) * QA + kq];
    for (uint kk = 0u; kk < 4u; ++kk) {  // not forced: unrolled 4 times, CPU drivers compile for minutes
      vec4 b[TQ];
      [[unroll]] for (uint j = 0u; j < TQ; ++j) b[j] = Bs[buf * BK * QB + (kq * 4u + kk) * QB + tx + j * RN];
      [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
          // precise: compiled the same way in every variant (no re-association or other contraction)
          precise float s = fma(a[i][kk], b[j / 4u][j % 4u], acc[i][j]);
          acc[i][j] = s;
        }
    }
  }
}

void main() {
  float acc[TM][TN];
  [[unroll]] for (uint i = 0u; i < TM; ++i)
    [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;
  uint split = pc.split_base + gl_WorkGroupID.z;
  k_begin = split * pc.k_split;
  k_end = min(pc.K, k_begin + pc.k_split);
  uint steps = (k_end - k_begin + BK - 1u) / BK;
  if (STAGES == 1u) {
    for (uint t = 0u; t < steps; ++t) {
      load_step(0u, t);
      store_step(0u, 0u, t);
      barrier();
      multiply(0u, acc);
      barrier();
    }
  } else {
    // prologue: steps 0 .. S-2 in flight, step 0 in shared buffer 0
    [[unroll]] for (uint s = 0u; s < SLOTS; ++s)
      if (s < steps) load_step(s, s);
    if (steps > 0u) store_step(0u, 0u, 0u);
    barrier();
    for (uint t0 = 0u; t0 < steps; t0 += SLOTS) {
      [[unroll]] for (uint s = 0u; s < SLOTS; ++s) {
        uint t = t0 + s;
        if (t < steps) {
          if (STAGES == 2u) {
            if (t + 1u < steps) load_step(0u, t + 1u);  // in flight during the multiply
            multiply(t & 1u, acc);
            if (t + 1u < steps) store_step(0u, (t + 1u) & 1u, t + 1u);
          } else {
            // slot s held step t (already in shared memory): reuse it for step t + S - 1
            if (t + SLOTS < steps) load_step(s, t + SLOTS);
            if (t + 1u < steps) store_step((s + 1u) % SLOTS, (t + 1u) & 1u, t + 1u);
            multiply(t & 1u, acc);
          }
          barrier();
        }
      }
    }
  }
  uint tx = gl_LocalInvocationID.x % RN, ty = gl_LocalInvocationID.x / RN;
  uint m0 = gl_WorkGroupID.y * BM, n0 = pc.n_base + gl_WorkGroupID.x * BN;
  [[unroll]] for (uint i = 0u; i < TM; ++i)
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
      uint m = m0 + ty + i * RM, n = n0 + (tx + (j / 4u) * RN) * 4u + j % 4u;
      if (m < pc.M && n < pc.n_base + pc.n_count) finish_value(m, n, split, acc[i][j]);
    }
}
