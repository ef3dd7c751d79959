/* attention.cl — fused attention over the quantized, paged KV cache (OpenCL C 1.2; kv_append is in
 * kv_append.cl).
 *
 * Same family and algorithms as shaders/glsl/attention.comp (see its header): decode runs one
 * work-group per (split, (seq, kv head, query-head chunk)) with the query heads of one kv head sharing
 * each K/V row read, online softmax in fp32 and split-K partials combined by lb_attention_merge;
 * prefill tiles BQ queries x BK keys, skipping key
 * tiles outside the causal / window range. K/V are dequantized in registers (decode) or into local
 * tiles (prefill); fp16 moves through vload_half / vstore_half_rte (no cl_khr_fp16 needed).
 * Variants from -D options:
 *   LB_FMT  0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2      LB_D    head dim
 *   LB_WG   work-group size                             LB_EPW  elements per 32-bit cache word
 *   decode: LB_GC query heads per group, LB_LPR lanes per key row
 *   prefill: LB_BQ queries, LB_BK keys per tile
 */
#ifndef LB_FMT
#define LB_FMT 0
#endif
#ifndef LB_D
#define LB_D 128
#endif
#ifndef LB_WG
#define LB_WG 128
#endif
#ifndef LB_EPW
#define LB_EPW (LB_FMT == 0 ? 2 : LB_FMT == 2 ? 8 : 4)
#endif
#define LB_RW (LB_D / LB_EPW) /* words per cache row */
#define LB_INT_FMT (LB_FMT == 1 || LB_FMT == 2)
#define LB_FP8_FMT (LB_FMT >= 3)

#define FLAG_OUT_F32 1u
#define FLAG_CAUSAL 2u
#define FLAG_FP8_PER_HEAD 4u

/* ---- shared helpers of the attention kernels ---------------------------------------------------- */
/* FP8 byte -> fp32, exact (no subnormal arithmetic). */
inline float lb_e4m3_value(uint b) {
  uint mag = b & 0x7Fu, e = mag >> 3, m = mag & 7u;
  uint bits = e == 0u ? as_uint((float)m * 0.001953125f) : (((e + 120u) << 23) | (m << 20));
  bits |= (b & 0x80u) << 24;
  return mag == 0x7Fu ? NAN : as_float(bits);
}
inline float lb_e5m2_value(uint b) {
  uint mag = b & 0x7Fu, e = mag >> 2, m = mag & 3u;
  uint bits = e == 0u ? as_uint((float)m * 0.0000152587890625f)
                      : (e == 31u ? (0x7F800000u | (m << 21)) : (((e + 112u) << 23) | (m << 21)));
  return as_float(bits | ((b & 0x80u) << 24));
}

/* The LB_EPW elements of one cache word: fp16 values, int codes, or FP8 values (unscaled). */
inline void lb_unpack_word(uint w, float* v) {
#if LB_FMT == 0
  v[0] = vload_half(0, (const half*)&w);   /* little-endian: low half first */
  v[1] = vload_half(1, (const half*)&w);
#else
  for (uint e = 0; e < LB_EPW; ++e) {
#if LB_FMT == 1
    v[e] = (float)((w >> (8u * e)) & 0xFFu);
#elif LB_FMT == 2
    v[e] = (float)((w >> (4u * e)) & 0xFu);
#elif LB_FMT == 3
    v[e] = lb_e4m3_value((w >> (8u * e)) & 0xFFu);
#else
    v[e] = lb_e5m2_value((w >> (8u * e)) & 0xFFu);
#endif
  }
#endif
}

inline float lb_h2f(__global const ushort* p, uint i) { return vload_half(i, (__global const half*)p); }

inline uint lb_kv_row(__global const int* table, uint max_blocks, uint P, uint Hkv, uint b, uint j, uint hk) {
  uint page = (uint)table[b * max_blocks + j / P];
  return (page * P + j % P) * Hkv + hk;
}

inline float lb_softcap(float s, float cap) {
  if (cap <= 0.0f || isnan(s)) return s;
  return cap * tanh(clamp(s / cap, -15.0f, 15.0f)); /* tanh(±15) is ±1 in fp32 */
}

/* Running max that keeps a NaN once seen. */
inline float lb_nan_max(float a, float b) { return isnan(a) ? a : (isnan(b) || b > a) ? b : a; }

/* Online softmax step for one query row: n new logits in p (masked ones are -inf) become
 * probabilities exp(s - max) in place; the running max *m and sum *l are updated, and the factor that
 * rescales the row's earlier accumulator is returned. */
inline float lb_online_softmax(__local float* p, uint n, __local float* m, __local float* l) {
  float m_old = *m, mx = m_old;
  for (uint k = 0; k < n; ++k) mx = lb_nan_max(mx, p[k]);
  float corr = mx == -INFINITY ? 1.0f : exp(m_old - mx);
  float sum = 0.0f;
  for (uint k = 0; k < n; ++k) {
    float pk = p[k] == -INFINITY ? 0.0f : exp(p[k] - mx);
    p[k] = pk;
    sum += pk;
  }
  *l = *l * corr + sum;
  *m = mx;
  return corr;
}


inline void lb_store(__global float* out32, __global half* out16, uint flags, uint idx, float v) {
  if (flags & FLAG_OUT_F32) out32[idx] = v;
  else vstore_half_rte(v, idx, out16);
}

#define LB_ATTN_ARGS                                                                                       \
  __global const half *q, __global const uint *kw, __global const uint *vw, __global const ushort *ks16,   \
      __global const ushort *kz16, __global const ushort *vs16, __global const ushort *vz16,                \
      __global const float *ks32, __global const float *vs32, __global const int *q_start,                  \
      __global const int *block_table, __global const int *seq_lens, __global float *out32,                 \
      __global half *out16, __global float *part, uint q_heads, uint kv_heads, uint max_blocks,            \
      uint page_size, uint splits, uint split_keys, uint flags, int window, float softcap, float scale,       \
      uint chunks

/* ---- decode --------------------------------------------------------------------------------------- */
#ifdef LB_GC
#define LB_KT (LB_WG / LB_LPR)
#define LB_NKS (LB_WG / LB_RW)

__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1))) void lb_attention_decode(LB_ATTN_ARGS) {
  __local float q_s[LB_GC * LB_D];
  __local float qsum_s[LB_GC];
  __local float part_s[LB_WG * LB_GC];
  __local float p_s[LB_GC * LB_KT];
  __local float m_s[LB_GC], l_s[LB_GC], corr_s[LB_GC];
  __local float red_s[LB_NKS * LB_D];

  uint t = get_local_id(0);
  uint split = get_group_id(0);
  uint c = get_group_id(1) % chunks;
  uint bh = get_group_id(1) / chunks;
  uint hk = bh % kv_heads, b = bh / kv_heads;
  uint G = q_heads / kv_heads;
  uint g0 = c * LB_GC;
  uint ng = min((uint)LB_GC, G - g0);
  uint qi = (uint)q_start[b];
  int L = seq_lens[b];
  int jlo = window > 0 ? max(0, L - window) : 0;
  int s0 = (int)(split * split_keys);
  int s1 = min(L, s0 + (int)split_keys);
  int k0 = max(jlo, s0);
  uint fp8_head = (flags & FLAG_FP8_PER_HEAD) ? hk : 0u;

  float qscale = scale * (LB_FP8_FMT ? ks32[fp8_head] : 1.0f);
  for (uint i = t; i < LB_GC * LB_D; i += LB_WG) {
    uint g = i / LB_D, d = i % LB_D;
    q_s[i] = g < ng ? vload_half((qi * q_heads + hk * G + g0 + g) * LB_D + d, q) * qscale : 0.0f;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  if (t < LB_GC) {
    float s = 0.0f;
    for (uint d = 0; d < LB_D; ++d) s += q_s[t * LB_D + d];
    qsum_s[t] = s;
    m_s[t] = -INFINITY;
    l_s[t] = 0.0f;
  }
  barrier(CLK_LOCAL_MEM_FENCE);

  float acc[LB_GC * LB_EPW];
  float zacc[LB_GC];
  for (uint i = 0; i < LB_GC * LB_EPW; ++i) acc[i] = 0.0f;
  for (uint g = 0; g < LB_GC; ++g) zacc[g] = 0.0f;
  uint lane = t % LB_LPR, kr = t / LB_LPR;
  uint vcol = t % LB_RW, vks = t / LB_RW;

  for (int tile = k0; tile < s1; tile += LB_KT) {
    float dots[LB_GC];
    for (uint g = 0; g < LB_GC; ++g) dots[g] = 0.0f;
    int j = tile + (int)kr;
    if (j < s1) {
      uint base = lb_kv_row(block_table, max_blocks, page_size, kv_heads, b, (uint)j, hk) * LB_RW;
      for (uint w = lane; w < LB_RW; w += LB_LPR) {
        float v[LB_EPW];
        lb_unpack_word(kw[base + w], v);
        for (uint g = 0; g < LB_GC; ++g) {
          float s = 0.0f;
          for (uint e = 0; e < LB_EPW; ++e) s += q_s[g * LB_D + w * LB_EPW + e] * v[e];
          dots[g] += s;
        }
      }
    }
    for (uint g = 0; g < LB_GC; ++g) part_s[t * LB_GC + g] = dots[g];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint i = t; i < LB_GC * LB_KT; i += LB_WG) {
      uint g = i / LB_KT, k = i % LB_KT;
      int jj = tile + (int)k;
      float s = -INFINITY;
      if (jj < s1 && g < ng) {
        float dot = 0.0f;
        for (uint l = 0; l < LB_LPR; ++l) dot += part_s[(k * LB_LPR + l) * LB_GC + g];
#if LB_INT_FMT
        uint row = lb_kv_row(block_table, max_blocks, page_size, kv_heads, b, (uint)jj, hk);
        dot = lb_h2f(ks16, row) * dot + lb_h2f(kz16, row) * qsum_s[g];
#endif
        s = lb_softcap(dot, softcap);
      }
      p_s[g * LB_KT + k] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (t < LB_GC) corr_s[t] = lb_online_softmax(p_s + t * LB_KT, LB_KT, m_s + t, l_s + t);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint g = 0; g < LB_GC; ++g) {
      float cr = corr_s[g];
      zacc[g] *= cr;
      for (uint e = 0; e < LB_EPW; ++e) acc[g * LB_EPW + e] *= cr;
    }
    if (vks < LB_NKS) {
      for (uint k = vks; k < LB_KT; k += LB_NKS) {
        int jj = tile + (int)k;
        if (jj >= s1) break;
        uint row = lb_kv_row(block_table, max_blocks, page_size, kv_heads, b, (uint)jj, hk);
        float v[LB_EPW];
        lb_unpack_word(vw[row * LB_RW + vcol], v);
#if LB_INT_FMT
        float vs = lb_h2f(vs16, row), vz = lb_h2f(vz16, row);
#else
        float vs = 1.0f, vz = 0.0f;
#endif
        for (uint g = 0; g < LB_GC; ++g) {
          float p = p_s[g * LB_KT + k];
          float ps = p * vs;
          if (LB_INT_FMT) zacc[g] += p * vz;
          for (uint e = 0; e < LB_EPW; ++e) acc[g * LB_EPW + e] += ps * v[e];
        }
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }

  float vscale = LB_FP8_FMT ? vs32[fp8_head] : 1.0f;
  for (uint g = 0; g < LB_GC; ++g) {
    if (vks < LB_NKS)
      for (uint e = 0; e < LB_EPW; ++e) red_s[vks * LB_D + vcol * LB_EPW + e] = acc[g * LB_EPW + e] + zacc[g];
    barrier(CLK_LOCAL_MEM_FENCE);
    if (g < ng) {
      uint hq = hk * G + g0 + g;
      float l = l_s[g];
      uint pb = ((b * q_heads + hq) * splits + split) * (LB_D + 2u);
      for (uint d = t; d < LB_D; d += LB_WG) {
        float s = 0.0f;
        for (uint ks = 0; ks < LB_NKS; ++ks) s += red_s[ks * LB_D + d];
        s *= vscale;
        if (splits > 1u) part[pb + d] = s;
        else lb_store(out32, out16, flags, (qi * q_heads + hq) * LB_D + d, l == 0.0f ? 0.0f : s / l);
      }
      if (splits > 1u && t == 0u) {
        part[pb + LB_D] = m_s[g];
        part[pb + LB_D + 1u] = l;
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
}
#endif /* LB_GC */

/* ---- prefill -------------------------------------------------------------------------------------- */
#ifdef LB_BQ
#define LB_TPR (LB_WG / LB_BQ)
#define LB_DPT (LB_D / LB_TPR)

inline void lb_load_tile(__local float* kv_s, __global const uint* words, __global const ushort* sc16,
                         __global const ushort* z16, __global const int* block_table, uint max_blocks,
                         uint page_size, uint kv_heads, uint b, uint hk, int tile, int jhi) {
  for (uint i = get_local_id(0); i < LB_BK * LB_RW; i += LB_WG) {
    uint k = i / LB_RW, w = i % LB_RW;
    int j = tile + (int)k;
    float v[LB_EPW];
    if (j < jhi) {
      uint row = lb_kv_row(block_table, max_blocks, page_size, kv_heads, b, (uint)j, hk);
      lb_unpack_word(words[row * LB_RW + w], v);
#if LB_INT_FMT
      float s = lb_h2f(sc16, row), z = lb_h2f(z16, row);
      for (uint e = 0; e < LB_EPW; ++e) v[e] = v[e] * s + z;
#endif
    } else {
      for (uint e = 0; e < LB_EPW; ++e) v[e] = 0.0f;
    }
    for (uint e = 0; e < LB_EPW; ++e) kv_s[k * LB_D + w * LB_EPW + e] = v[e];
  }
}

__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1))) void lb_attention_prefill(LB_ATTN_ARGS) {
  __local float q_s[LB_BQ * LB_D];
  __local float kv_s[LB_BK * LB_D];
  __local float s_s[LB_BQ * LB_BK];
  __local float m_s[LB_BQ], l_s[LB_BQ], corr_s[LB_BQ];

  uint t = get_local_id(0);
  uint hq = get_group_id(1) % q_heads, b = get_group_id(1) / q_heads;
  uint hk = hq / (q_heads / kv_heads);
  int q0 = q_start[b], nq = q_start[b + 1] - q0;
  int L = seq_lens[b];
  int i0 = (int)(get_group_id(0) * LB_BQ);
  if (i0 >= nq) return; /* uniform for the work-group */
  int nrows = min((int)LB_BQ, nq - i0);
  int off = L - nq;
  bool causal = (flags & FLAG_CAUSAL) != 0u || window > 0;
  int jlo = window > 0 ? max(0, i0 + off - window + 1) : 0;
  int jhi = causal ? clamp(i0 + nrows + off, 0, L) : L;
  uint fp8_head = (flags & FLAG_FP8_PER_HEAD) ? hk : 0u;

  float qscale = scale * (LB_FP8_FMT ? ks32[fp8_head] : 1.0f);
  for (uint i = t; i < LB_BQ * LB_D; i += LB_WG) {
    uint r = i / LB_D, d = i % LB_D;
    q_s[i] = (int)r < nrows ? vload_half(((uint)(q0 + i0 + (int)r) * q_heads + hq) * LB_D + d, q) * qscale : 0.0f;
  }
  if (t < LB_BQ) {
    m_s[t] = -INFINITY;
    l_s[t] = 0.0f;
  }
  uint r = t / LB_TPR, dl = t % LB_TPR;
  float o[LB_DPT];
  for (uint i = 0; i < LB_DPT; ++i) o[i] = 0.0f;

  for (int tile = jlo; tile < jhi; tile += LB_BK) {
    lb_load_tile(kv_s, kw, ks16, kz16, block_table, max_blocks, page_size, kv_heads, b, hk, tile, jhi);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint i = t; i < LB_BQ * LB_BK; i += LB_WG) {
      uint rr = i / LB_BK, k = i % LB_BK;
      int j = tile + (int)k;
      int pos = i0 + (int)rr + off;
      bool visible = (int)rr < nrows && j < jhi && (!causal || j <= pos) && (window <= 0 || j > pos - window);
      float s = -INFINITY;
      if (visible) {
        float dot = 0.0f;
        for (uint d = 0; d < LB_D; ++d) dot += q_s[rr * LB_D + d] * kv_s[k * LB_D + d];
        s = lb_softcap(dot, softcap);
      }
      s_s[i] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    lb_load_tile(kv_s, vw, vs16, vz16, block_table, max_blocks, page_size, kv_heads, b, hk, tile, jhi);
    if (t < LB_BQ) corr_s[t] = lb_online_softmax(s_s + t * LB_BK, LB_BK, m_s + t, l_s + t);
    barrier(CLK_LOCAL_MEM_FENCE);
    float cr = corr_s[r];
    for (uint i = 0; i < LB_DPT; ++i) o[i] *= cr;
    for (uint k = 0; k < LB_BK; ++k) {
      float p = s_s[r * LB_BK + k];
      for (uint i = 0; i < LB_DPT; ++i) o[i] += p * kv_s[k * LB_D + dl + LB_TPR * i];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if ((int)r < nrows) {
    float l = l_s[r];
    float vscale = LB_FP8_FMT ? vs32[fp8_head] : 1.0f;
    uint ob = ((uint)(q0 + i0 + (int)r) * q_heads + hq) * LB_D;
    for (uint i = 0; i < LB_DPT; ++i)
      lb_store(out32, out16, flags, ob + dl + LB_TPR * i, l == 0.0f ? 0.0f : o[i] * vscale / l);
  }
}
#endif /* LB_BQ */

/* ---- split-K merge: work-group (q head, seq), work-items over D ------------------------------------ */
__kernel void lb_attention_merge(__global const float* part, __global const int* q_start, __global float* out32,
                                 __global half* out16, uint q_heads, uint splits, uint flags) {
  uint hq = get_group_id(0), b = get_group_id(1);
  uint qi = (uint)q_start[b];
  uint base = (b * q_heads + hq) * splits * (LB_D + 2u);
  float M = -INFINITY;
  for (uint s = 0; s < splits; ++s) M = lb_nan_max(M, part[base + s * (LB_D + 2u) + LB_D]);
  for (uint d = get_local_id(0); d < LB_D; d += get_local_size(0)) {
    float acc = 0.0f, l = 0.0f;
    for (uint s = 0; s < splits; ++s) {
      uint pb = base + s * (LB_D + 2u);
      float m = part[pb + LB_D];
      float w = m == -INFINITY ? 0.0f : exp(m - M);
      acc += w * part[pb + d];
      l += w * part[pb + LB_D + 1u];
    }
    lb_store(out32, out16, flags, (qi * q_heads + hq) * LB_D + d, l == 0.0f ? 0.0f : acc / l);
  }
}
