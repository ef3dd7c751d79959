// attention.comp — fused attention over the quantized, paged KV cache (lowbit/attention.hpp).
//
// Build-time entry kinds: DECODE, PREFILL, MERGE. Format, head dim and tile shapes are specialization
// constants (attention_common.glsl and below). K/V are dequantized in registers (int: per-row
// scale/zero applied to the dot product / to the weight; FP8: per-head scale folded into q and the
// output); softmax is online in fp32.
//
// DECODE: workgroup (split, (seq, kv head, query-head chunk)). The GC query heads of one kv head share
// every K/V row read. Per tile of KT keys: LPR lanes per key row read neighbouring words and dot them
// with q (shared memory), the partial dots are reduced in shared memory, GC leaders update the running
// max / sum, then each invocation accumulates p·V for one word column over a subset of the keys.
// With several splits the unnormalised (acc, max, sum) go to the partials and MERGE combines them
// (log-sum-exp) in a second dispatch, so workgroups never wait on each other.
// PREFILL: workgroup (query tile of BQ rows, (seq, q head)). K and V tiles of BK keys are dequantized
// into shared memory one after the other; key tiles outside the causal / window range are skipped.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "attention_common.glsl"

#if defined(DECODE)
layout(constant_id = 3) const uint GC = 1;   // query heads per workgroup
layout(constant_id = 4) const uint LPR = 8;  // lanes per key row in the QK phase (divides WG)
const uint KT = WG / LPR;                    // keys per tile
const uint NKS = WG / RW;                    // key subsets in the PV phase (host: RW <= WG)

shared float q_s[GC * D];
shared float qsum_s[GC];
shared float part_s[WG * GC];
shared float p_s[GC * KT];
shared float m_s[GC], l_s[GC], corr_s[GC];
shared float red_s[NKS * D];

void main() {
  uint t = gl_LocalInvocationID.x;
  uint split = gl_WorkGroupID.x;
  uint c = gl_WorkGroupID.y % pc.chunks;
  uint bh = gl_WorkGroupID.y / pc.chunks;
  uint hk = bh % pc.kv_heads, b = bh / pc.kv_heads;
  uint G = pc.q_heads / pc.kv_heads;
  uint g0 = c * GC;
  uint ng = min(GC, G - g0);
  uint qi = uint(q_start[b]);
  int L = seq_lens[b];
  int jlo = pc.window > 0 ? max(0, L - pc.window) : 0;
  int s0 = int(split * pc.split_keys);
  int s1 = min(L, s0 + int(pc.split_keys));
  int k0 = max(jlo, s0);

  float qscale = pc.scale * (FP8_FMT ? fp8_scale_k(hk) : 1.0);
  for (uint i = t; i < GC * D; i += WG) {
    uint g = i / D, d = i % D;
    q_s[i] = g < ng ? q_at((qi * pc.q_heads + hk * G + g0 + g) * D + d) * qscale : 0.0;
  }
  barrier();
  if (t < GC) {
    float s = 0.0;
    for (uint d = 0u; d < D; ++d) s += q_s[t * D + d];
    qsum_s[t] = s;
    m_s[t] = NEG_INF;
    l_s[t] = 0.0;
  }
  barrier();

  float acc[GC * EPW];
  float zacc[GC];
  for (uint i = 0u; i < GC * EPW; ++i) acc[i] = 0.0;
  for (uint g = 0u; g < GC; ++g) zacc[g] = 0.0;
  uint lane = t % LPR, kr = t / LPR;  // QK phase: key row kr of the tile, lane within the row
  uint vw = t % RW, vks = t / RW;     // PV phase: word column vw, key subset vks

  for (int tile = k0; tile < s1; tile += int(KT)) {
    // QK: partial dots of this lane's words
    float dots[GC];
    for (uint g = 0u; g < GC; ++g) dots[g] = 0.0;
    int j = tile + int(kr);
    if (j < s1) {
      uint base = kv_row(b, uint(j), hk) * RW;
      for (uint w = lane; w < RW; w += LPR) {
        float v[EPW];
        unpack_word(k_words[base + w], v);
        for (uint g = 0u; g < GC; ++g) {
          float s = 0.0;
          for (uint e = 0u; e < EPW; ++e) s += q_s[g * D + w * EPW + e] * v[e];
          dots[g] += s;
        }
      }
    }
    for (uint g = 0u; g < GC; ++g) part_s[t * GC + g] = dots[g];
    barrier();
    // logits: reduce the LPR lanes, apply the row's scale / zero, softcap
    for (uint i = t; i < GC * KT; i += WG) {
      uint g = i / KT, k = i % KT;
      int jj = tile + int(k);
      float s = NEG_INF;
      if (jj < s1 && g < ng) {
        float dot = 0.0;
        for (uint l = 0u; l < LPR; ++l) dot += part_s[(k * LPR + l) * GC + g];
        if (INT_FMT) {
          uint row = kv_row(b, uint(jj), hk);
          dot = H2F(k_scale16[row]) * dot + H2F(k_zero16[row]) * qsum_s[g];
        }
        s = apply_softcap(dot);
      }
      p_s[g * KT + k] = s;
    }
    barrier();
    // online softmax, one leader per query head
    if (t < GC) {
      float m_old = m_s[t], mx = m_old;
      for (uint k = 0u; k < KT; ++k) mx = nan_max(mx, p_s[t * KT + k]);
      float corr = mx == NEG_INF ? 1.0 : exp(m_old - mx);
      float sum = 0.0;
      for (uint k = 0u; k < KT; ++k) {
        float s = p_s[t * KT + k];
        float p = s == NEG_INF ? 0.0 : exp(s - mx);
        p_s[t * KT + k] = p;
        sum += p;
      }
      l_s[t] = l_s[t] * corr + sum;
      m_s[t] = mx;
      corr_s[t] = corr;
    }
    barrier();
    // PV
    for (uint g = 0u; g < GC; ++g) {
      float cr = corr_s[g];
      zacc[g] *= cr;
      for (uint e = 0u; e < EPW; ++e) acc[g * EPW + e] *= cr;
    }
    if (vks < NKS) {
      for (uint k = vks; k < KT; k += NKS) {
        int jj = tile + int(k);
        if (jj >= s1) break;
        uint row = kv_row(b, uint(jj), hk);
        float v[EPW];
        unpack_word(v_words[row * RW + vw], v);
        float vs = INT_FMT ? H2F(v_scale16[row]) : 1.0;
        float vz = INT_FMT ? H2F(v_zero16[row]) : 0.0;
        for (uint g = 0u; g < GC; ++g) {
          float p = p_s[g * KT + k];
          float ps = p * vs;
          if (INT_FMT) zacc[g] += p * vz;
          for (uint e = 0u; e < EPW; ++e) acc[g * EPW + e] += ps * v[e];
        }
      }
    }
    barrier();
  }

  // reduce the key subsets, then normalise (one split) or write the partials
  float vscale = FP8_FMT ? fp8_scale_v(hk) : 1.0;
  for (uint g = 0u; g < GC; ++g) {
    if (vks < NKS)
      for (uint e = 0u; e < EPW; ++e) red_s[vks * D + vw * EPW + e] = acc[g * EPW + e] + zacc[g];
    barrier();
    if (g < ng) {
      uint hq = hk * G + g0 + g;
      float l = l_s[g];
      for (uint d = t; d < D; d += WG) {
        float s = 0.0;
        for (uint ks = 0u; ks < NKS; ++ks) s += red_s[ks * D + d];
        s *= vscale;
        if (pc.splits > 1u) {
          part[((b * pc.q_heads + hq) * pc.splits + split) * (D + 2u) + d] = s;
        } else {
          store_out((qi * pc.q_heads + hq) * D + d, l == 0.0 ? 0.0 : s / l);
        }
      }
      if (pc.splits > 1u && t == 0u) {
        uint pb = ((b * pc.q_heads + hq) * pc.splits + split) * (D + 2u) + D;
        part[pb] = m_s[g];
        part[pb + 1u] = l;
      }
    }
    barrier();
  }
}

#elif defined(PREFILL)
layout(constant_id = 3) const uint BQ = 16;  // queries per workgroup
layout(constant_id = 4) const uint BK = 32;  // keys per tile
const uint TPR = WG / BQ;                    // invocations per query row in the PV phase
const uint DPT = D / TPR;                    // output elements per invocation (host: D % TPR == 0)

shared float q_s[BQ * D];
shared float kv_s[BK * D];
shared float s_s[BQ * BK];
shared float m_s[BQ], l_s[BQ], corr_s[BQ];

// Dequantizes keys [tile, tile + BK) of K (is_v false) or V into kv_s (zeros past jhi).
void load_tile(bool is_v, uint b, uint hk, int tile, int jhi) {
  for (uint i = gl_LocalInvocationID.x; i < BK * RW; i += WG) {
    uint k = i / RW, w = i % RW;
    int j = tile + int(k);
    float v[EPW];
    if (j < jhi) {
      uint row = kv_row(b, uint(j), hk);
      unpack_word(is_v ? v_words[row * RW + w] : k_words[row * RW + w], v);
      if (INT_FMT) {
        float s = is_v ? H2F(v_scale16[row]) : H2F(k_scale16[row]);  // (no 16-bit select: Int16)
        float z = is_v ? H2F(v_zero16[row]) : H2F(k_zero16[row]);
        for (uint e = 0u; e < EPW; ++e) v[e] = v[e] * s + z;
      }
    } else {
      for (uint e = 0u; e < EPW; ++e) v[e] = 0.0;
    }
    for (uint e = 0u; e < EPW; ++e) kv_s[k * D + w * EPW + e] = v[e];
  }
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint hq = gl_WorkGroupID.y % pc.q_heads, b = gl_WorkGroupID.y / pc.q_heads;
  uint hk = hq / (pc.q_heads / pc.kv_heads);
  int q0 = q_start[b], nq = q_start[b + 1u] - q0;
  int L = seq_lens[b];
  int i0 = int(gl_WorkGroupID.x * BQ);
  if (i0 >= nq) return;  // uniform for the workgroup
  int nrows = min(int(BQ), nq - i0);
  int off = L - nq;  // query i sits at position i + off
  bool causal = (pc.flags & FLAG_CAUSAL) != 0u || pc.window > 0;
  int jlo = pc.window > 0 ? max(0, i0 + off - pc.window + 1) : 0;
  int jhi = causal ? clamp(i0 + nrows - 1 + off + 1, 0, L) : L;

  float qscale = pc.scale * (FP8_FMT ? fp8_scale_k(hk) : 1.0);
  for (uint i = t; i < BQ * D; i += WG) {
    uint r = i / D, d = i % D;
    q_s[i] = int(r) < nrows ? q_at((uint(q0 + i0 + int(r)) * pc.q_heads + hq) * D + d) * qscale : 0.0;
  }
  if (t < BQ) {
    m_s[t] = NEG_INF;
    l_s[t] = 0.0;
  }
  uint r = t / TPR, dl = t % TPR;
  float o[DPT];
  for (uint i = 0u; i < DPT; ++i) o[i] = 0.0;

  for (int tile = jlo; tile < jhi; tile += int(BK)) {
    load_tile(false, b, hk, tile, jhi);
    barrier();
    for (uint i = t; i < BQ * BK; i += WG) {
      uint rr = i / BK, k = i % BK;
      int j = tile + int(k);
      int pos = i0 + int(rr) + off;
      bool visible = int(rr) < nrows && j < jhi && (!causal || j <= pos) && (pc.window <= 0 || j > pos - pc.window);
      float s = NEG_INF;
      if (visible) {
        float dot = 0.0;
        for (uint d = 0u; d < D; ++d) dot += q_s[rr * D + d] * kv_s[k * D + d];
        s = apply_softcap(dot);
      }
      s_s[i] = s;
    }
    barrier();
    load_tile(true, b, hk, tile, jhi);
    if (t < BQ) {
      float m_old = m_s[t], mx = m_old;
      for (uint k = 0u; k < BK; ++k) mx = nan_max(mx, s_s[t * BK + k]);
      float corr = mx == NEG_INF ? 1.0 : exp(m_old - mx);
      float sum = 0.0;
      for (uint k = 0u; k < BK; ++k) {
        float s = s_s[t * BK + k];
        float p = s == NEG_INF ? 0.0 : exp(s - mx);
        s_s[t * BK + k] = p;
        sum += p;
      }
      l_s[t] = l_s[t] * corr + sum;
      m_s[t] = mx;
      corr_s[t] = corr;
    }
    barrier();
    float cr = corr_s[r];
    for (uint i = 0u; i < DPT; ++i) o[i] *= cr;
    for (uint k = 0u; k < BK; ++k) {
      float p = s_s[r * BK + k];
      for (uint i = 0u; i < DPT; ++i) o[i] += p * kv_s[k * D + dl + TPR * i];
    }
    barrier();
  }
  if (int(r) < nrows) {
    float l = l_s[r];
    float vscale = FP8_FMT ? fp8_scale_v(hk) : 1.0;
    uint ob = (uint(q0 + i0 + int(r)) * pc.q_heads + hq) * D;
    for (uint i = 0u; i < DPT; ++i) store_out(ob + dl + TPR * i, l == 0.0 ? 0.0 : o[i] * vscale / l);
  }
}

#elif defined(MERGE)
// Workgroup (q head, seq); invocations over D. out = Σ_s e^(m_s - M) acc_s / Σ_s e^(m_s - M) l_s.
void main() {
  uint hq = gl_WorkGroupID.x, b = gl_WorkGroupID.y;
  uint qi = uint(q_start[b]);
  uint base = (b * pc.q_heads + hq) * pc.splits * (D + 2u);
  float M = NEG_INF;
  for (uint s = 0u; s < pc.splits; ++s) M = nan_max(M, part[base + s * (D + 2u) + D]);
  for (uint d = gl_LocalInvocationID.x; d < D; d += WG) {
    float acc = 0.0, l = 0.0;
    for (uint s = 0u; s < pc.splits; ++s) {
      uint pb = base + s * (D + 2u);
      float m = part[pb + D];
      float w = m == NEG_INF ? 0.0 : exp(m - M);
      acc += w * part[pb + d];
      l += w * part[pb + D + 1u];
    }
    store_out((qi * pc.q_heads + hq) * D + d, l == 0.0 ? 0.0 : acc / l);
  }
}
#else
#error "define DECODE, PREFILL or MERGE"
#endif
