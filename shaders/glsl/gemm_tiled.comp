// gemm_tiled.comp — the larger-M path of Y = X · Wᵀ (+ bias): BM x BN output tiles, K in steps of
// BK through double-buffered shared memory. Each step first issues the global loads of the NEXT tile
// into registers, then runs the math on the current tile, then parks the prefetched tile in the other
// buffer (one barrier per step), so memory latency and int4 dequantization overlap the FMAs.
// Each invocation owns a TM x TN micro-tile with fp32 accumulators. W4 or fp16 weights. Workgroup z
// is the K slice (split-K, for weights bound in pieces), reduced by gemm_reduce.comp.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "gemm_common.glsl"

layout(constant_id = 0) const uint WG = 256;  // must equal (BM / TM) * (BN / TN)
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;   // multiple of 8
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
layout(constant_id = 6) const bool W4 = true;
layout(constant_id = 7) const bool ANY_GROUP = false;  // group % 8 != 0: a weight word may straddle two groups

shared float As[2 * BK * BM];  // [buf][k][m]
shared float Bs[2 * BK * BN];  // [buf][k][n]

const uint XL = (BM * BK + WG - 1) / WG;      // X elements each invocation loads per step
const uint WL = (BN * BK + WG - 1) / WG;      // fp16 weights per invocation per step
const uint QL = (BN * BK / 8 + WG - 1) / WG;  // int4 words per invocation per step

float rx[XL];
float rw[WL];
uint rq[QL];
float rs[QL];
float rz[QL];

uint k_end;  // end of this workgroup's K slice

void load_global(uint k0) {
  uint lid = gl_LocalInvocationID.x;
  uint m0 = gl_WorkGroupID.y * BM, n0 = pc.n_base + gl_WorkGroupID.x * BN;
  uint n_end = pc.n_base + pc.n_count;
  for (uint i = 0; i < XL; ++i) {
    uint e = lid + i * WG;
    uint r = e / BK, kk = e % BK;
    uint m = m0 + r, k = k0 + kk;
    rx[i] = (e < BM * BK && m < pc.M && k < k_end) ? half_at(m * pc.K + k) : 0.0;
  }
  if (W4) {
    uint groups = pc.K / pc.group;
    for (uint i = 0; i < QL; ++i) {
      uint n, krow;
      bool ok = w4_tile_word(lid + i * WG, k0, BN, BK, k_end, n, krow);
      uint g = min(krow / pc.group, groups - 1u);
      rq[i] = ok ? w_words[((krow >> 3) - pc.kw_base) * pc.N + n] : 0u;
      rs[i] = ok ? scale_at(g * pc.N + n) : 0.0;
      rz[i] = ok && (pc.flags & FLAG_ZEROS) != 0u ? float(uint(zeros[g * pc.N + n])) : 8.0;
    }
  } else {
    for (uint i = 0; i < WL; ++i) {
      uint e = lid + i * WG;
      uint c = e / BK, kk = e % BK;
      uint n = n0 + c, k = k0 + kk;
      float v = 0.0;
      if (e < BN * BK && n < n_end && k < k_end) {
        uint wi = (n - pc.n_base) * pc.K + k;
        vec2 p = unpackHalf2x16(w_words[wi >> 1]);
        v = (wi & 1u) == 0u ? p.x : p.y;
      }
      rw[i] = v;
    }
  }
}

void store_shared(uint buf, uint k0) {
  uint lid = gl_LocalInvocationID.x;
  for (uint i = 0; i < XL; ++i) {
    uint e = lid + i * WG;
    if (e < BM * BK) As[buf * BK * BM + (e % BK) * BM + e / BK] = rx[i];
  }
  if (W4) {
    for (uint i = 0; i < QL; ++i) {
      uint e = lid + i * WG;
      if (e >= BN * BK / 8u) continue;
      uint c = e % BN, kw = e / BN;
      float w[8];
      uint n, krow;
      if (ANY_GROUP && w4_tile_word(e, k0, BN, BK, k_end, n, krow))
        dequant8_rows(rq[i], krow, n, w);  // the word may straddle groups: a scale per row
      else
        dequant8(rq[i], rz[i], rs[i], w);
      for (uint j = 0; j < 8u; ++j) Bs[buf * BK * BN + (kw * 8u + j) * BN + c] = w[j];
    }
  } else {
    for (uint i = 0; i < WL; ++i) {
      uint e = lid + i * WG;
      if (e < BN * BK) Bs[buf * BK * BN + (e % BK) * BN + e / BK] = rw[i];
    }
  }
}

void main() {
  uint lid = gl_LocalInvocationID.x;
  uint tx = lid % (BN / TN), ty = lid / (BN / TN);
  float acc[TM * TN];
  for (uint i = 0; i < TM * TN; ++i) acc[i] = 0.0;
  uint split = pc.split_base + gl_WorkGroupID.z;
  uint k_begin = split * pc.k_split;
  k_end = min(pc.K, k_begin + pc.k_split);
  uint steps = (k_end - k_begin + BK - 1u) / BK;
  load_global(k_begin);
  store_shared(0u, k_begin);
  barrier();
  for (uint t = 0; t < steps; ++t) {
    uint buf = t & 1u;
    bool more = t + 1u < steps;
    if (more) load_global(k_begin + (t + 1u) * BK);  // next tile's loads in flight during the math below
    for (uint kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
      for (uint i = 0; i < TM; ++i) a[i] = As[buf * BK * BM + kk * BM + ty * TM + i];
      for (uint j = 0; j < TN; ++j) b[j] = Bs[buf * BK * BN + kk * BN + tx * TN + j];
      for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i * TN + j] += a[i] * b[j];
    }
    if (more) store_shared(buf ^ 1u, k_begin + (t + 1u) * BK);
    barrier();
  }
  uint m0 = gl_WorkGroupID.y * BM + ty * TM, n0 = pc.n_base + gl_WorkGroupID.x * BN + tx * TN;
  for (uint i = 0; i < TM; ++i)
    for (uint j = 0; j < TN; ++j) {
      uint m = m0 + i, n = n0 + j;
      if (m < pc.M && n < pc.n_base + pc.n_count) finish_value(m, n, split, acc[i * TN + j]);
    }
}
