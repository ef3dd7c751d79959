// gemm_coopmat.comp — the tiled path of Y = X · Wᵀ (+ bias) on cooperative-matrix hardware
// (GL_NV_cooperative_matrix; Debian 12's glslang cannot compile the KHR extension). Used only where
// the device reports a 16x8x16 fp16 x fp16 + fp32 subgroup matrix, and verified against the tiled
// path on first use (backend/vulkan/vk_gemm.cpp).
//
// A 64 x 64 output tile per workgroup of 4 subgroups (2 x 2, each 32 x 32 = 2 x 4 matrices of 16 x 8);
// K in steps of BK through double-buffered shared memory, next step's global loads issued before the
// current step's matrix multiplies; int4 weights are dequantized to fp16 on their way into shared
// memory ((q - zero) exact, times the fp16 scale). Accumulators go through shared memory for the
// bias / bounds / fp16-or-fp32 epilogue.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#include "gemm_common.glsl"

layout(constant_id = 0) const uint WG = 128;  // 4 subgroups
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool W4 = true;
layout(constant_id = 2) const bool ANY_GROUP = false;  // group % 8 != 0: a weight word may straddle two groups

const uint BM = 64, BN = 64, BK = 32;
const uint XL = (BM * BK) / WG;      // X elements per invocation per step
const uint WL = (BN * BK) / WG;      // fp16 weights per invocation per step
const uint QL = (BN * BK / 8u + WG - 1u) / WG;  // int4 words per invocation per step

shared float16_t As[2 * BM * BK];  // [buf][m][k]
shared float16_t Bs[2 * BK * BN];  // [buf][k][n]
shared float Cs[BM * BN];

float rx[XL];
float rw[WL];
uint rq[QL];
float rs[QL];
float rz[QL];
uint k_end;

void load_global(uint k0) {
  uint lid = gl_LocalInvocationID.x;
  uint m0 = gl_WorkGroupID.y * BM, n0 = pc.n_base + gl_WorkGroupID.x * BN;
  uint n_end = pc.n_base + pc.n_count;
  for (uint i = 0; i < XL; ++i) {
    uint e = lid + i * WG, r = e / BK, kk = e % BK;
    rx[i] = (m0 + r < pc.M && k0 + kk < k_end) ? half_at((m0 + r) * pc.K + k0 + kk) : 0.0;
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
      uint e = lid + i * WG, c = e / BK, kk = e % BK;
      uint n = n0 + c, k = k0 + kk;
      float v = 0.0;
      if (n < n_end && k < k_end) {
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
    As[buf * BM * BK + e] = float16_t(rx[i]);  // e = r * BK + kk: row-major [m][k]
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
      for (uint j = 0; j < 8u; ++j) Bs[buf * BK * BN + (kw * 8u + j) * BN + c] = float16_t(w[j]);
    }
  } else {
    for (uint i = 0; i < WL; ++i) {
      uint e = lid + i * WG;
      Bs[buf * BK * BN + (e % BK) * BN + e / BK] = float16_t(rw[i]);
    }
  }
}

void main() {
  uint sg = gl_SubgroupID;  // 0..3
  uint sm = (sg >> 1) * 32u, sn = (sg & 1u) * 32u;
  fcoopmatNV<32, gl_ScopeSubgroup, 16, 8> acc[2][4];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 8>(0.0);
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
    if (more) load_global(k_begin + (t + 1u) * BK);
    for (uint kk = 0; kk < BK; kk += 16u) {
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a[2];
      fcoopmatNV<16, gl_ScopeSubgroup, 16, 8> b[4];
      for (uint i = 0; i < 2u; ++i) coopMatLoadNV(a[i], As, buf * BM * BK + (sm + i * 16u) * BK + kk, BK, false);
      for (uint j = 0; j < 4u; ++j) coopMatLoadNV(b[j], Bs, buf * BK * BN + kk * BN + sn + j * 8u, BN, false);
      for (uint i = 0; i < 2u; ++i)
        for (uint j = 0; j < 4u; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
    }
    if (more) store_shared(buf ^ 1u, k_begin + (t + 1u) * BK);
    barrier();
  }
  for (uint i = 0; i < 2u; ++i)
    for (uint j = 0; j < 4u; ++j) coopMatStoreNV(acc[i][j], Cs, (sm + i * 16u) * BN + sn + j * 8u, BN, false);
  barrier();
  uint m0 = gl_WorkGroupID.y * BM, n0 = pc.n_base + gl_WorkGroupID.x * BN;
  for (uint e = gl_LocalInvocationID.x; e < BM * BN; e += WG) {
    uint m = m0 + e / BN, n = n0 + e % BN;
    if (m < pc.M && n < pc.n_base + pc.n_count) finish_value(m, n, split, Cs[e]);
  }
}
