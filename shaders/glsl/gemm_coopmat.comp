// gemm_coopmat.comp — the tiled path of Y = X · Wᵀ (+ bias) on tensor cores, one source for both APIs:
//   gemm_coopmat_khr  GL_KHR_cooperative_matrix (NVIDIA, AMD RDNA3, Intel Arc); needs glslang 13
//                     (shaders/glsl/glslang13.cmake); FM x FN x FK from the device's list
//                     (backend/vulkan/coopmat_shapes.hpp).
//   gemm_coopmat      -DNV_COOPMAT: GL_NV_cooperative_matrix (glslang 12), 16 x 8 x 16, for NVIDIA drivers
//                     without the KHR extension. The two differ only in the API macros below.
// Used only where the device reports an fp16 x fp16 + fp32 subgroup shape, and verified against the tiled
// path on first use (backend/vulkan/vulkan_device.cpp).
//
// A 64 x 64 output tile per workgroup; subgroups 0..3
// each own a 32 x 32 warp tile of (32/FM) x (32/FN) fp32 accumulators (further subgroups, where the device
// runs smaller ones than it reports, only load); K in steps of BK = 32 through shared memory, a STAGES-deep
// software pipeline (asynchronous dequantization, as gemm_tiled.comp):
//   STAGES = 1  serial: load step t, dequantize it into the one shared buffer, barrier, multiply, barrier.
//   STAGES = 2  double buffer: step t+1's global loads (16-byte vectors where K % 8 == 0) issued before
//               step t's matrix multiplies, then dequantized into the other shared buffer.
//   STAGES >= 3 the loads of step t+S-1 go into one of S-1 register slots, then step t+1 (loaded S-2
//               steps ago) is dequantized into the other shared buffer, then step t is multiplied:
//               S-1 steps of global loads in flight, one barrier per step. The step loop is unrolled
//               S-1 times so that every slot index is a constant (no scratch memory).
// Every depth multiplies the same fragments in the same order, so the results are bit-identical.
// int4 weights are dequantized in registers on their way to shared memory: (q - zero) * scale in fp32
// (exact), then to fp16. Shared rows are padded by 8 halves (16 bytes): A is
// [m][k] and B is [n][k] (loaded column-major), so the 8 rows of 16 bytes a fragment load reads at a time
// fall in distinct banks, and a dequantized int4 word (8 K rows of one column) is one contiguous store.
// Workgroup z is the K slice (split-K partials go to gemm_reduce). Each subgroup writes its accumulators
// through its own small staging area for the bias / bounds / fp16-or-fp32 epilogue.
#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef NV_COOPMAT
#extension GL_NV_cooperative_matrix : require
#else
#extension GL_KHR_cooperative_matrix : require
#endif
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#include "gemm_common.glsl"

layout(constant_id = 0) const uint WG = 128;  // 4 subgroups of the device's reported size
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const bool W4 = true;
layout(constant_id = 2) const bool ANY_GROUP = false;  // group % 8 != 0: a weight word may straddle two groups
layout(constant_id = 3) const uint FM = 16;  // fragment shape: A is FM x FK, B is FK x FN, C is FM x FN
layout(constant_id = 4) const uint FN = 16;
layout(constant_id = 5) const uint FK = 16;
layout(constant_id = 6) const uint STAGES = 2;  // K pipeline depth (1..4): 1 serial, >= 2 loads in flight (above)

// The API: matrix types, loads / stores / multiply-add, and the shared arrays' element. NV's loads take
// arrays of the fragment's scalar type, so its shared tiles are float16_t (offsets in halves); KHR's are
// f16vec2 (one 32-bit store per pair). SH(i): half pair i's index in the shared array's elements.
#ifdef NV_COOPMAT
#define ACC_T fcoopmatNV<32, gl_ScopeSubgroup, FM, FN>
#define A_T fcoopmatNV<16, gl_ScopeSubgroup, FM, FK>
#define B_T fcoopmatNV<16, gl_ScopeSubgroup, FK, FN>
#define CM_LOAD_ROWS(m, arr, off, stride) coopMatLoadNV(m, arr, off, stride, false)
#define CM_LOAD_COLS(m, arr, off, stride) coopMatLoadNV(m, arr, off, stride, true)
#define CM_STORE_ROWS(m, arr, off, stride) coopMatStoreNV(m, arr, off, stride, false)
#define CM_MULADD coopMatMulAddNV
#define SHARED_T float16_t
#define SH(i) ((i) * 2u)
#define PUT2(arr, i, v) { f16vec2 p2_ = (v); arr[SH(i)] = p2_.x; arr[SH(i) + 1u] = p2_.y; }
#else
#define ACC_T coopmat<float, gl_ScopeSubgroup, FM, FN, gl_MatrixUseAccumulator>
#define A_T coopmat<float16_t, gl_ScopeSubgroup, FM, FK, gl_MatrixUseA>
#define B_T coopmat<float16_t, gl_ScopeSubgroup, FK, FN, gl_MatrixUseB>
#define CM_LOAD_ROWS(m, arr, off, stride) coopMatLoad(m, arr, off, stride, gl_CooperativeMatrixLayoutRowMajor)
#define CM_LOAD_COLS(m, arr, off, stride) coopMatLoad(m, arr, off, stride, gl_CooperativeMatrixLayoutColumnMajor)
#define CM_STORE_ROWS(m, arr, off, stride) coopMatStore(m, arr, off, stride, gl_CooperativeMatrixLayoutRowMajor)
#define CM_MULADD coopMatMulAdd
#define SHARED_T f16vec2
#define SH(i) (i)
#define PUT2(arr, i, v) arr[i] = (v)
#endif

const uint BM = 64, BN = 64, BK = 32, WM = 32, WN = 32;
const uint ROW2 = (BK + 8u) / 2u;  // padded shared row in half pairs (80 bytes)
const uint CHUNKS = BM * BK / 8u;  // 8-half chunks of an X (or fp16 W) step tile; == BN * BK / 8 int4 words
const uint PER = (CHUNKS + WG - 1u) / WG;  // chunks (or words) per invocation per step
const uint TILES_M = WM / FM, TILES_N = WN / FN;
const uint NBUF = STAGES == 1u ? 1u : 2u;           // shared buffers (backend: coopmat_shared_bytes)
const uint SLOTS = STAGES > 2u ? STAGES - 1u : 1u;  // register slots of global loads

shared SHARED_T As[SH(NBUF * BM * ROW2)];  // [buf][m][k]
shared SHARED_T Bs[SH(NBUF * BN * ROW2)];  // [buf][n][k]
shared float Cs[4u * 16u * 16u];      // one FM x FN staging tile per matrix subgroup

uvec4 rx[SLOTS][PER];  // X chunks (8 fp16) of the steps in flight
uvec4 rw[SLOTS][PER];  // fp16 W chunks
uint rq[SLOTS][PER];   // int4 words, with their group's scale and zero
float rs[SLOTS][PER];
float rz[SLOTS][PER];
uint k_end;

uint half_bits(uint word, uint idx) { return (word >> ((idx & 1u) * 16u)) & 0xFFFFu; }

// 8 consecutive fp16 of X starting at flat element idx, the first `valid` of them real (the rest 0).
uvec4 x_chunk(uint idx, uint valid) {
  if ((pc.K & 7u) == 0u) return valid == 8u ? x_vec[idx >> 3] : uvec4(0u);
  uint h[8];
  for (uint j = 0u; j < 8u; ++j) h[j] = j < valid ? half_bits(x_words[(idx + j) >> 1], idx + j) : 0u;
  return uvec4(h[0] | h[1] << 16, h[2] | h[3] << 16, h[4] | h[5] << 16, h[6] | h[7] << 16);
}

// The same for the fp16 weights (bound from row n_base).
uvec4 w_chunk(uint idx, uint valid) {
  if ((pc.K & 7u) == 0u) return valid == 8u ? w_vec[idx >> 3] : uvec4(0u);
  uint h[8];
  for (uint j = 0u; j < 8u; ++j) h[j] = j < valid ? half_bits(w_words[(idx + j) >> 1], idx + j) : 0u;
  return uvec4(h[0] | h[1] << 16, h[2] | h[3] << 16, h[4] | h[5] << 16, h[6] | h[7] << 16);
}

// Rows of a chunk at k that lie before k_end (0..8).
uint valid_rows(uint k) { return k < k_end ? min(8u, k_end - k) : 0u; }

// Global loads of the step at K row k0 into register slot `slot`.
void load_global(uint slot, uint k0) {
  uint lid = gl_LocalInvocationID.x;
  uint m0 = gl_WorkGroupID.y * BM, n0 = pc.n_base + gl_WorkGroupID.x * BN;
  uint n_end = pc.n_base + pc.n_count;
  for (uint i = 0u; i < PER; ++i) {
    uint c = lid + i * WG, r = c / (BK / 8u), k = k0 + (c % (BK / 8u)) * 8u;
    rx[slot][i] = c < CHUNKS && m0 + r < pc.M ? x_chunk((m0 + r) * pc.K + k, valid_rows(k)) : uvec4(0u);
  }
  if (W4) {
    uint groups = pc.K / pc.group;
    for (uint i = 0u; i < PER; ++i) {
      uint n, krow;
      bool ok = w4_tile_word(lid + i * WG, k0, BN, BK, k_end, n, krow);
      uint g = min(krow / pc.group, groups - 1u);
      rq[slot][i] = ok ? w_words[((krow >> 3) - pc.kw_base) * pc.N + n] : 0u;
      rs[slot][i] = ok ? scale_at(g * pc.N + n) : 0.0;
      rz[slot][i] = ok && (pc.flags & FLAG_ZEROS) != 0u ? float(uint(zeros[g * pc.N + n])) : 8.0;
    }
  } else {
    for (uint i = 0u; i < PER; ++i) {
      uint c = lid + i * WG, col = c / (BK / 8u), k = k0 + (c % (BK / 8u)) * 8u;
      uint n = n0 + col;
      rw[slot][i] = c < CHUNKS && n < n_end ? w_chunk((n - pc.n_base) * pc.K + k, valid_rows(k)) : uvec4(0u);
    }
  }
}

// Register slot `slot` (the step at K row k0), dequantized into shared buffer `buf`.
void store_shared(uint buf, uint slot, uint k0) {
  uint lid = gl_LocalInvocationID.x;
  for (uint i = 0u; i < PER; ++i) {
    uint c = lid + i * WG;
    if (c >= CHUNKS) continue;
    uint base = buf * BM * ROW2 + (c / (BK / 8u)) * ROW2 + (c % (BK / 8u)) * 4u;
    PUT2(As, base, unpackFloat2x16(rx[slot][i].x));  // 8 halves: row c / 4, K rows 8 * (c % 4)...
    PUT2(As, base + 1u, unpackFloat2x16(rx[slot][i].y));
    PUT2(As, base + 2u, unpackFloat2x16(rx[slot][i].z));
    PUT2(As, base + 3u, unpackFloat2x16(rx[slot][i].w));
  }
  if (W4) {
    for (uint i = 0u; i < PER; ++i) {
      uint e = lid + i * WG;
      if (e >= BN * BK / 8u) continue;
      float w[8];
      uint n, krow;
      if (ANY_GROUP && w4_tile_word(e, k0, BN, BK, k_end, n, krow))
        dequant8_rows(rq[slot][i], krow, n, w);  // the word may straddle groups: a scale per row
      else
        dequant8(rq[slot][i], rz[slot][i], rs[slot][i], w);
      uint base = buf * BN * ROW2 + (e % BN) * ROW2 + (e / BN) * 4u;  // column e % BN, rows 8 * (e / BN)...
      for (uint j = 0u; j < 4u; ++j) PUT2(Bs, base + j, f16vec2(float16_t(w[2u * j]), float16_t(w[2u * j + 1u])));
    }
  } else {
    for (uint i = 0u; i < PER; ++i) {
      uint c = lid + i * WG;
      if (c >= CHUNKS) continue;
      uint base = buf * BN * ROW2 + (c / (BK / 8u)) * ROW2 + (c % (BK / 8u)) * 4u;
      PUT2(Bs, base, unpackFloat2x16(rw[slot][i].x));
      PUT2(Bs, base + 1u, unpackFloat2x16(rw[slot][i].y));
      PUT2(Bs, base + 2u, unpackFloat2x16(rw[slot][i].z));
      PUT2(Bs, base + 3u, unpackFloat2x16(rw[slot][i].w));
    }
  }
}

// Cooperative matrices live in main (function scope).
void main() {
  ACC_T acc[TILES_M * TILES_N];
  uint sg = gl_SubgroupID;
  bool mma = sg < 4u;  // uniform per subgroup
  uint sm = ((sg >> 1) & 1u) * WM, sn = (sg & 1u) * WN;
  for (uint t = 0u; t < TILES_M * TILES_N; ++t) acc[t] = ACC_T(0.0);
  uint split = pc.split_base + gl_WorkGroupID.z;
  uint k_begin = split * pc.k_split;
  k_end = min(pc.K, k_begin + pc.k_split);
  uint steps = (k_end - k_begin + BK - 1u) / BK;
  // prologue: steps 0 .. SLOTS-1 in flight, step 0 in shared buffer 0
  [[unroll]] for (uint s = 0u; s < SLOTS; ++s)
    if (s < steps) load_global(s, k_begin + s * BK);
  if (steps > 0u) store_shared(0u, 0u, k_begin);
  barrier();
  for (uint t0 = 0u; t0 < steps; t0 += SLOTS) {
    [[unroll]] for (uint s = 0u; s < SLOTS; ++s) {
      uint t = t0 + s;  // step t sits in shared buffer `buf`; register slot s held it
      if (t < steps) {
        uint buf = NBUF > 1u ? t & 1u : 0u;
        bool more = t + 1u < steps;
        uint next = k_begin + (t + 1u) * BK;
        if (STAGES == 2u && more) load_global(0u, next);  // in flight during the multiplies
        if (STAGES > 2u) {
          if (t + SLOTS < steps) load_global(s, k_begin + (t + SLOTS) * BK);  // slot s is free again
          if (more) store_shared(buf ^ 1u, (s + 1u) % SLOTS, next);  // step t+1, loaded SLOTS-1 steps ago
        }
        if (mma) {  // this step's multiplies on the subgroup's warp tile (sm, sn)
          for (uint kk = 0u; kk < BK; kk += FK) {
            A_T a[TILES_M];
            B_T b[TILES_N];
            for (uint i = 0u; i < TILES_M; ++i)
              CM_LOAD_ROWS(a[i], As, SH(buf * BM * ROW2 + (sm + i * FM) * ROW2 + kk / 2u), SH(ROW2));
            for (uint j = 0u; j < TILES_N; ++j)
              CM_LOAD_COLS(b[j], Bs, SH(buf * BN * ROW2 + (sn + j * FN) * ROW2 + kk / 2u), SH(ROW2));
            for (uint i = 0u; i < TILES_M; ++i)
              for (uint j = 0u; j < TILES_N; ++j) acc[i * TILES_N + j] = CM_MULADD(a[i], b[j], acc[i * TILES_N + j]);
          }
        }
        if (more && STAGES == 2u) store_shared(buf ^ 1u, 0u, next);
        if (more && STAGES == 1u) {
          barrier();  // every subgroup is done reading the single buffer
          load_global(0u, next);
          store_shared(0u, 0u, next);
        }
        barrier();
      }
    }
  }
  if (!mma) return;
  // The accumulators through the subgroup's staging tile to Y (or the split-K partials).
  uint m0 = gl_WorkGroupID.y * BM + sm, n0 = pc.n_base + gl_WorkGroupID.x * BN + sn;
  uint stage = sg * 16u * 16u;
  for (uint i = 0u; i < TILES_M; ++i) {
    for (uint j = 0u; j < TILES_N; ++j) {
      CM_STORE_ROWS(acc[i * TILES_N + j], Cs, stage, FN);
      controlBarrier(gl_ScopeSubgroup, gl_ScopeSubgroup, gl_StorageSemanticsShared, gl_SemanticsAcquireRelease);
      for (uint e = gl_SubgroupInvocationID; e < FM * FN; e += gl_SubgroupSize) {
        uint m = m0 + i * FM + e / FN, n = n0 + j * FN + e % FN;
        if (m < pc.M && n < pc.n_base + pc.n_count) finish_value(m, n, split, Cs[stage + e]);
      }
      controlBarrier(gl_ScopeSubgroup, gl_ScopeSubgroup, gl_StorageSemanticsShared, gl_SemanticsAcquireRelease);
    }
  }
}
