// attention_prefill_coopmat_khr.comp — prefill attention over the quantized, paged KV cache with the
// products on matrix units (GL_KHR_cooperative_matrix; needs glslang 13 like the KHR build of gemm_coopmat.comp). Used
// only where the device reports an fp16 x fp16 + fp32 subgroup shape FM x FN x FK (coopmat_shapes.hpp) and
// after it agreed with attention.comp's scalar PREFILL on a test problem (backend/vulkan); otherwise that
// scalar kernel runs. Same rows, masks and ragged lengths as the scalar kernel:
// workgroup (tile of BQ = 4 * FM rows, (seq, kv head)); a row is a (query, query head) pair, the G query heads
// of the kv head side by side, so each K/V tile serves the whole GQA group. Matrix subgroup s (0..3) owns rows
// s*FM .. s*FM+FM-1 and their output O (D/FN fp32 accumulator fragments); further subgroups (a device running
// smaller subgroups than it reports) only load. Per tile of BKV keys inside the causal / window range:
//   K dequantized to fp16 in shared memory (kv_word_values), S = Q Kᵀ by coopMatMulAdd into fp32 fragments,
//   stored to shared memory; scale, softcap and masks per logit; per row the running max / sum (online softmax
//   in fp32) and P in fp16; V dequantized into the same shared tile; O rescaled by the row factors (through a
//   per-subgroup staging tile: the fragment's element layout is the driver's) where a row's max moved; O += P V.
// Finally O / l (times the FP8 V scale) through the staging tile. Q, K, V and P enter the products as fp16
// (values beyond ±65504 do not fit; the scalar kernel computes in fp32).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#include "attention_common.glsl"

// (0 WG = 4 subgroups, 1 FMT, 2 D, 5 EPW, 6 RW: attention_common.glsl)
layout(constant_id = 3) const uint FM = 16;  // fragment shape: A is FM x FK, B is FK x FN, C is FM x FN
layout(constant_id = 4) const uint FN = 16;
layout(constant_id = 7) const uint FK = 16;
layout(constant_id = 8) const uint BKV = 32;  // keys per tile: a multiple of FN and FK (host: prefill_coopmat_plan.hpp)

const uint BQ = 4u * FM;   // rows per workgroup
const uint DS = D + 8u;    // padded fp16 row of q_s / kv_s (rows 16 bytes apart mod 128: distinct banks)
const uint PS = BKV + 8u;  // padded fp16 row of p_s
const uint NJ = D / FN;    // output fragments per matrix subgroup
const uint NP = BKV / FK;  // P fragments per matrix subgroup and tile

shared float16_t q_s[BQ * DS];    // the tile's queries [row][d]
shared float16_t kv_s[BKV * DS];  // K, then V, of the key tile [key][d]
shared float s_s[BQ * BKV];       // logits [row][key]; during P·V and the epilogue a FM x FN staging tile per subgroup
shared float16_t p_s[BQ * PS];    // probabilities [row][key]
shared float m_s[BQ], l_s[BQ], corr_s[BQ];

#define ACC coopmat<float, gl_ScopeSubgroup, FM, FN, gl_MatrixUseAccumulator>
#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, FM, FK, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, FK, FN, gl_MatrixUseB>

void subgroup_shared_barrier() {
  controlBarrier(gl_ScopeSubgroup, gl_ScopeSubgroup, gl_StorageSemanticsShared, gl_SemanticsAcquireRelease);
}

// Keys [tile, tile + BKV) of K (is_v false) or V, dequantized to fp16 into kv_s (zeros past jhi).
void load_kv(bool is_v, uint b, uint hk, int tile, int jhi) {
  for (uint i = gl_LocalInvocationID.x; i < BKV * RW; i += WG) {
    uint k = i / RW, w = i % RW;
    int j = tile + int(k);
    float v[EPW];
    if (j < jhi) {
      kv_word_values(is_v, kv_row(b, uint(j), hk), w, v);
    } else {
      for (uint e = 0u; e < EPW; ++e) v[e] = 0.0;
    }
    for (uint e = 0u; e < EPW; ++e) kv_s[k * DS + w * EPW + e] = float16_t(v[e]);
  }
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint hk = gl_WorkGroupID.y % pc.kv_heads, b = gl_WorkGroupID.y / pc.kv_heads;
  int G = int(pc.q_heads / pc.kv_heads);
  int q0 = q_start[b], nq = q_start[b + 1u] - q0;
  int L = seq_lens[b];
  int r0 = int(gl_WorkGroupID.x * BQ);  // row r is query r / G, query head hk * G + r % G
  if (r0 >= nq * G) return;             // uniform for the workgroup
  int nrows = min(int(BQ), nq * G - r0);
  int off = L - nq;  // query i sits at position i + off
  bool causal = (pc.flags & FLAG_CAUSAL) != 0u || pc.window > 0;
  int jlo = pc.window > 0 ? max(0, r0 / G + off - pc.window + 1) : 0;
  int jhi = causal ? clamp((r0 + nrows - 1) / G + off + 1, 0, L) : L;
  float qscale = pc.scale * (FP8_FMT ? fp8_scale_k(hk) : 1.0);  // applied to the fp32 logits

  for (uint i = t; i < BQ * D; i += WG) {
    uint r = i / D, d = i % D;
    int rr = r0 + int(r);
    float q = int(r) < nrows ? q_at((uint(q0 + rr / G) * pc.q_heads + hk * uint(G) + uint(rr % G)) * D + d) : 0.0;
    q_s[r * DS + d] = float16_t(q);
  }
  for (uint r = t; r < BQ; r += WG) {
    m_s[r] = NEG_INF;
    l_s[r] = 0.0;
  }
  uint sg = gl_SubgroupID;
  bool mma = sg < 4u;  // uniform per subgroup
  uint sm = (sg & 3u) * FM, stage = (sg & 3u) * FM * FN;
  ACC o[NJ];
  for (uint j = 0u; j < NJ; ++j) o[j] = ACC(0.0);

  for (int tile = jlo; tile < jhi; tile += int(BKV)) {
    barrier();  // q_s / m_s written; the previous tile's P·V is done with kv_s, p_s and the staging tiles
    load_kv(false, b, hk, tile, jhi);
    barrier();
    if (mma) {  // S = Q Kᵀ for the subgroup's rows
      for (uint jb = 0u; jb < BKV / FN; ++jb) {
        ACC s = ACC(0.0);
        for (uint kk = 0u; kk < D; kk += FK) {
          MAT_A qa;
          MAT_B kb;
          coopMatLoad(qa, q_s, sm * DS + kk, DS, gl_CooperativeMatrixLayoutRowMajor);
          coopMatLoad(kb, kv_s, jb * FN * DS + kk, DS, gl_CooperativeMatrixLayoutColumnMajor);
          s = coopMatMulAdd(qa, kb, s);
        }
        coopMatStore(s, s_s, sm * BKV + jb * FN, BKV, gl_CooperativeMatrixLayoutRowMajor);
      }
    }
    barrier();
    load_kv(true, b, hk, tile, jhi);
    for (uint i = t; i < BQ * BKV; i += WG) {  // scale, softcap and masks, every logit in parallel
      uint rr = i / BKV, k = i % BKV;
      int j = tile + int(k);
      int pos = (r0 + int(rr)) / G + off;
      bool visible = int(rr) < nrows && j < jhi && (!causal || j <= pos) && (pc.window <= 0 || j > pos - pc.window);
      s_s[i] = visible ? apply_softcap(s_s[i] * qscale) : NEG_INF;
    }
    barrier();
    for (uint r = t; r < BQ; r += WG) {  // online softmax per row (fp32); P in fp16, summed as rounded
      float m_old = m_s[r], mx = m_old;
      for (uint k = 0u; k < BKV; ++k) mx = nan_max(mx, s_s[r * BKV + k]);
      float sum = 0.0;
      for (uint k = 0u; k < BKV; ++k) {
        float16_t p = float16_t(softmax_p(s_s[r * BKV + k], mx));
        p_s[r * PS + k] = p;
        sum += float(p);
      }
      float corr = softmax_corr(m_old, mx);
      l_s[r] = l_s[r] * corr + sum;
      m_s[r] = mx;
      corr_s[r] = corr;
    }
    barrier();
    if (mma) {
      bool rescale = false;  // the same answer in every lane of the subgroup
      for (uint r = 0u; r < FM; ++r) rescale = rescale || corr_s[sm + r] != 1.0;
      if (rescale) {
        for (uint j = 0u; j < NJ; ++j) {
          coopMatStore(o[j], s_s, stage, FN, gl_CooperativeMatrixLayoutRowMajor);
          subgroup_shared_barrier();
          for (uint e = gl_SubgroupInvocationID; e < FM * FN; e += gl_SubgroupSize) s_s[stage + e] *= corr_s[sm + e / FN];
          subgroup_shared_barrier();
          coopMatLoad(o[j], s_s, stage, FN, gl_CooperativeMatrixLayoutRowMajor);
          subgroup_shared_barrier();
        }
      }
      MAT_A pa[NP];
      for (uint c = 0u; c < NP; ++c) coopMatLoad(pa[c], p_s, sm * PS + c * FK, PS, gl_CooperativeMatrixLayoutRowMajor);
      for (uint j = 0u; j < NJ; ++j) {  // O += P V
        for (uint c = 0u; c < NP; ++c) {
          MAT_B vb;
          coopMatLoad(vb, kv_s, c * FK * DS + j * FN, DS, gl_CooperativeMatrixLayoutRowMajor);
          o[j] = coopMatMulAdd(pa[c], vb, o[j]);
        }
      }
    }
  }
  barrier();  // l_s final (also when no key tile ran)
  if (!mma) return;
  float vscale = FP8_FMT ? fp8_scale_v(hk) : 1.0;
  for (uint j = 0u; j < NJ; ++j) {
    coopMatStore(o[j], s_s, stage, FN, gl_CooperativeMatrixLayoutRowMajor);
    subgroup_shared_barrier();
    for (uint e = gl_SubgroupInvocationID; e < FM * FN; e += gl_SubgroupSize) {
      uint r = sm + e / FN;
      if (int(r) < nrows) {
        float l = l_s[r];
        int rr = r0 + int(r);
        uint ob = (uint(q0 + rr / G) * pc.q_heads + hk * uint(G) + uint(rr % G)) * D;
        store_out(ob + j * FN + e % FN, l == 0.0 ? 0.0 : s_s[stage + e] * vscale / l);
      }
    }
    subgroup_shared_barrier();
  }
}
