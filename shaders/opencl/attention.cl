/* attention.cl — fused attention over the quantized, paged KV cache (OpenCL C 1.2; kv_append is in
 * kv_append.cl).
 *
 * Same family and algorithms as shaders/glsl/attention.comp (see its header): decode runs one
 * work-group per (split, (seq, kv head, query-head chunk)) with the query heads of one kv head sharing
 * each K/V row read, online softmax in fp32 and split-K partials combined by lb_attention_merge;
 * prefill tiles BQ rows ((query, query head) pairs of one kv head: a K/V tile serves the GQA group) x BK
 * keys, skipping key tiles outside the causal / window range. K/V are dequantized in registers (decode) or into local
 * tiles (prefill); fp16 moves through vload_half / vstore_half_rte (no cl_khr_fp16 needed).
 * Variants from -D options:
 *   LB_FMT  0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2      LB_D    head dim
 *   LB_WG   work-group size                             LB_EPW  elements per 32-bit cache word
 *   decode: LB_GC query heads per group, LB_LPR lanes per key row, LB_KPS keys per step,
 *           LB_PREFETCH 1: the next step's loads in flight during this step's math,
 *           LB_CE elements per chunk (attn::decode_chunk_ok: fp16 8; the others 8 or 16)
 *   prefill: LB_BQ rows, LB_BK keys per tile
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
/* The LB_EPW elements of one cache word: fp16 values, int codes, or FP8 values (unscaled); the
 * per-element decode of the quantized formats is lowbit_formats.h's (lb_kv_code_value). */
inline void lb_unpack_word(uint w, float* v) {
#if LB_FMT == 0
  v[0] = vload_half(0, (const half*)&w);   /* little-endian: low half first */
  v[1] = vload_half(1, (const half*)&w);
#else
  for (uint e = 0; e < LB_EPW; ++e) v[e] = lb_kv_code_value(w, e, LB_FMT);
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

/* Online-softmax steps (attention_common.glsl's softmax_corr / softmax_p): the factor that rescales the old
 * sum / accumulators when the running max goes from m_old to mx (1 while it is -inf), and a logit's (or a
 * partial's max's) weight under the max mx (masked: -inf gives 0). */
inline float lb_softmax_corr(float m_old, float mx) { return mx == -INFINITY ? 1.0f : exp(m_old - mx); }
inline float lb_softmax_p(float s, float mx) { return s == -INFINITY ? 0.0f : exp(s - mx); }

/* Online softmax step for one query row: n new logits in p (masked ones are -inf) become
 * probabilities exp(s - max) in place; the running max *m and sum *l are updated, and the factor that
 * rescales the row's earlier accumulator is returned. */
inline float lb_online_softmax(__local float* p, uint n, __local float* m, __local float* l) {
  float m_old = *m, mx = m_old;
  for (uint k = 0; k < n; ++k) mx = lb_nan_max(mx, p[k]);
  float corr = lb_softmax_corr(m_old, mx);
  float sum = 0.0f;
  for (uint k = 0; k < n; ++k) {
    float pk = lb_softmax_p(p[k], mx);
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

/* ---- decode ---------------------------------------------------------------------------------------
 * Lane groups of LB_LPR work-items stream their own pages (round robin), LB_KPS keys per step; a lane
 * owns chunks lane, lane + LB_LPR, ... of a row (LB_CE elements) and keeps its slice of q, the
 * online-softmax state and its slice of the accumulators in registers. The next step's K/V chunks and
 * scales are loaded before the current step's math; partial dots are summed through local memory
 * (double buffered: one barrier per step); the groups' states are merged (log-sum-exp) at the end.
 * CPU devices take LB_LPR 1: a work-item holds whole rows (q and acc of the GQA group's heads as float
 * vectors, one per chunk), so the key loop has no barrier and runs over the lane's own pages only.
 * LB_HS head sets: lane groups grp % LB_HS serve LB_GC query heads of their own, reading the same keys. */
#ifdef LB_GC
#ifndef LB_CE
#define LB_CE (LB_FMT == 0 ? 8 : 16)                 /* elements per chunk */
#endif
#define LB_VW (LB_CE / LB_EPW)                       /* words per chunk: 4, 2 or 1 */
#define LB_SZ_ONE 0x3C00u                            /* a packed fp16 (scale, zero) of (1, 0) */
#define LB_NCH (LB_D / LB_CE)                        /* chunks per row */
#define LB_CPL ((LB_NCH + LB_LPR - 1) / LB_LPR)      /* chunks per lane */
#define LB_E (LB_CPL * LB_CE)                        /* elements per lane */
#define LB_NW (LB_WG / LB_LPR)                       /* lane groups */
#ifndef LB_HS
#define LB_HS 1                                      /* head sets (a power of two dividing LB_NW) */
#endif
#define LB_NWH (LB_NW / LB_HS)                       /* lane groups of a head set, streaming its pages */
#define LB_NK (LB_KPS * LB_CPL)                      /* chunks per step and tensor */
#define LB_NS (LB_KPS * LB_GC)                       /* logits per step */
#ifndef LB_PREFETCH
#define LB_PREFETCH 1
#endif
#define LB_RED (LB_NW * LB_D > 2 * LB_WG * LB_NS ? LB_NW * LB_D : 2 * LB_WG * LB_NS)

/* One step's loads: slot sl of the double buffers; gi: the lane group within its head set. */
inline __attribute__((always_inline)) void lb_fetch(uint sl, uint n, uint gi, uint lane, uint b, uint hk, uint pa, uint pb, int k0, int s1,
                     __global const uint* kw, __global const uint* vw, __global const ushort* ks16,
                     __global const ushort* kz16, __global const ushort* vs16, __global const ushort* vz16,
                     __global const int* block_table, uint max_blocks, uint P, uint kv_heads, uint4* kb, uint4* vb,
                     uint* ksz, uint* vsz, uint* validb) {
  uint spp = P / LB_KPS;
  uint pidx = pa + gi + LB_NWH * (n / spp);
  uint off = (n % spp) * LB_KPS;
  uint valid = 0u;
  /* Every load is unconditional, its address clamped to a valid one (table column 0, page 0, the row's last
   * chunk) and its value selected away where it does not count (attention.comp's fetch: loads inside
   * branches were waited for one by one by RADV's compiler). */
  uint entry = (uint)block_table[b * max_blocks + (pidx < pb ? pidx : 0u)]; /* one table entry per step */
  uint page = pidx < pb ? entry : 0u;
  for (uint i = 0; i < LB_KPS; ++i) {
    int j = (int)(pidx * P + off + i);
    bool ok = pidx < pb && j >= k0 && j < s1;
    uint row = (page * P + off + i) * kv_heads + hk;
    uint si = sl * LB_KPS + i;
    if (ok) valid |= 1u << i;
#if LB_INT_FMT
    uint ks = (uint)ks16[row] | ((uint)kz16[row] << 16), vs = (uint)vs16[row] | ((uint)vz16[row] << 16);
    ksz[si] = ok ? ks : LB_SZ_ONE, vsz[si] = ok ? vs : LB_SZ_ONE; /* the row's fp16 scale and zero in one word */
#else
    ksz[si] = LB_SZ_ONE, vsz[si] = LB_SZ_ONE;
#endif
    for (uint c = 0; c < LB_CPL; ++c) {
      uint ch = lane + LB_LPR * c;
      uint w = row * LB_RW + min(ch, (uint)LB_NCH - 1u) * LB_VW;
      uint4 kx = (uint4)(0u), vx = (uint4)(0u);
#if LB_VW == 4
      kx = vload4(0, kw + w);
      vx = vload4(0, vw + w);
#elif LB_VW == 2
      kx.xy = vload2(0, kw + w);
      vx.xy = vload2(0, vw + w);
#else
      kx.x = kw[w];
      vx.x = vw[w];
#endif
      bool use = ok && ch < LB_NCH;
      kb[sl * LB_NK + i * LB_CPL + c] = use ? kx : (uint4)(0u);
      vb[sl * LB_NK + i * LB_CPL + c] = use ? vx : (uint4)(0u);
    }
  }
  validb[sl] = valid;
}

/* A chunk, dequantized into x[0 .. LB_CE). */
inline void lb_unpack_chunk(uint4 w, float* x) {
  uint ws[4] = {w.x, w.y, w.z, w.w};
  for (uint i = 0; i < LB_VW; ++i) lb_unpack_word(ws[i], x + i * LB_EPW);
}

/* A chunk as one float vector (LB_CE lanes), so that dequantization, dots and p·V compile to SIMD
 * instructions on CPU devices too (PoCL vectorizes little across work-items here). The int codes'
 * numbers are lb_kv_code_value's (low nibble / byte first) in vector form, FP8 values
 * lb_kv_fp8_values16's; fp16 goes through lb_unpack_chunk. */
#if LB_CE == 16
#define LB_VF float16
#define LB_VLOAD vload16
#define LB_VSTORE vstore16
#else
#define LB_VF float8
#define LB_VLOAD vload8
#define LB_VSTORE vstore8
#endif
inline LB_VF lb_chunk_vec(uint4 w) {
#if LB_FMT == 1 && LB_CE == 16
  return convert_float16(as_uchar16(w));
#elif LB_FMT == 1
  return convert_float8(as_uchar8(w.xy));
#elif LB_FMT == 2 && LB_CE == 16
  const uint16 sh = (uint16)(0u, 4u, 8u, 12u, 16u, 20u, 24u, 28u, 0u, 4u, 8u, 12u, 16u, 20u, 24u, 28u);
  return convert_float16((w.s0000000011111111 >> sh) & (uint16)(0xFu));
#elif LB_FMT == 2
  const uint8 sh = (uint8)(0u, 4u, 8u, 12u, 16u, 20u, 24u, 28u);
  return convert_float8((w.s00000000 >> sh) & (uint8)(0xFu));
#elif LB_FMT >= 3 && LB_CE == 16
  return lb_kv_fp8_values16(convert_uint16(as_uchar16(w)), LB_FMT);
#elif LB_FMT >= 3
  return lb_kv_fp8_values16(convert_uint16(as_uchar16(w)), LB_FMT).lo; /* the chunk's 8 bytes are w.xy */
#else
  float x[LB_CE];
  lb_unpack_chunk(w, x);
  return LB_VLOAD(0, x);
#endif
}
inline float lb_hsum8(float8 v) {
  float4 a = v.lo + v.hi;
  float2 b = a.lo + a.hi;
  return b.x + b.y;
}
#if LB_CE == 16
inline float lb_hsum(float16 v) { return lb_hsum8(v.lo + v.hi); }
#else
inline float lb_hsum(float8 v) { return lb_hsum8(v); }
#endif

/* Step sl: logits, the partial dots summed over the group, online softmax, p·V. qr and acc hold one
 * LB_VF per (query head, chunk). */
inline __attribute__((always_inline)) void lb_consume(uint sl, uint t, uint grp, uint ng, uint* buf, float softcap, const LB_VF* qr, const float* qs,
                       float* m, float* l, float* zacc, LB_VF* acc, const uint4* kb, const uint4* vb, const uint* ksz,
                       const uint* vsz, const uint* validb, __local float* red_s) {
  float sr[LB_NS];
  LB_VF x[LB_CPL];
  for (uint i = 0; i < LB_KPS; ++i) {
    for (uint c = 0; c < LB_CPL; ++c) x[c] = lb_chunk_vec(kb[sl * LB_NK + i * LB_CPL + c]);
    uint sz = ksz[sl * LB_KPS + i];
    float ks = vload_half(0, (const half*)&sz), kz = vload_half(1, (const half*)&sz); /* the row's scale, zero */
    for (uint g = 0; g < LB_GC; ++g) {
      LB_VF dv = qr[g * LB_CPL] * x[0];
      for (uint c = 1; c < LB_CPL; ++c) dv += qr[g * LB_CPL + c] * x[c];
      float d = lb_hsum(dv);
      sr[i * LB_GC + g] = LB_INT_FMT ? ks * d + kz * qs[g] : d;
    }
  }
#if LB_LPR > 1 /* one lane per row (CPU devices) holds whole dots: no barrier in the key loop */
  __local float* red = red_s + *buf * LB_WG * LB_NS;
  for (uint i = 0; i < LB_NS; ++i) red[t * LB_NS + i] = sr[i];
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint i = 0; i < LB_NS; ++i) {
    float s = 0.0f;
    for (uint k = 0; k < LB_LPR; ++k) s += red[(grp * LB_LPR + k) * LB_NS + i];
    sr[i] = s;
  }
  *buf ^= 1u; /* the next step writes the other half */
#endif
  for (uint g = 0; g < LB_GC; ++g) {
    float mx = m[g];
    for (uint i = 0; i < LB_KPS; ++i) {
      float v = (validb[sl] & (1u << i)) && g < ng ? lb_softcap(sr[i * LB_GC + g], softcap) : -INFINITY;
      sr[i * LB_GC + g] = v;
      mx = lb_nan_max(mx, v);
    }
    float corr = lb_softmax_corr(m[g], mx);
    float sum = 0.0f;
    for (uint i = 0; i < LB_KPS; ++i) {
      float v = sr[i * LB_GC + g];
      float p = lb_softmax_p(v, mx);
      sr[i * LB_GC + g] = p;
      sum += p;
    }
    l[g] = l[g] * corr + sum;
    m[g] = mx;
    zacc[g] *= corr;
    for (uint c = 0; c < LB_CPL; ++c) acc[g * LB_CPL + c] *= corr;
  }
  for (uint i = 0; i < LB_KPS; ++i) {
    for (uint c = 0; c < LB_CPL; ++c) x[c] = lb_chunk_vec(vb[sl * LB_NK + i * LB_CPL + c]);
    uint sz = vsz[sl * LB_KPS + i];
    float vs = vload_half(0, (const half*)&sz), vz = vload_half(1, (const half*)&sz);
    for (uint g = 0; g < LB_GC; ++g) {
      float p = sr[i * LB_GC + g];
      float ps = LB_INT_FMT ? p * vs : p;
      if (LB_INT_FMT) zacc[g] += p * vz;
      for (uint c = 0; c < LB_CPL; ++c) acc[g * LB_CPL + c] += ps * x[c];
    }
  }
}

__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1))) void lb_attention_decode(LB_ATTN_ARGS) {
  __local float red_s[LB_RED];
  __local float ml_s[2 * LB_NW];

  uint t = get_local_id(0);
  uint split = get_group_id(0);
  uint c = get_group_id(1) % chunks;
  uint bh = get_group_id(1) / chunks;
  uint hk = bh % kv_heads, b = bh / kv_heads;
  uint G = q_heads / kv_heads;
  uint grp = t / LB_LPR, lane = t % LB_LPR;
  uint hs = grp % LB_HS, gi = grp / LB_HS; /* head set, lane group within it */
  uint g0 = (c * LB_HS + hs) * LB_GC;     /* this lane group's first query head within the kv head's */
  uint ng = g0 < G ? min((uint)LB_GC, G - g0) : 0u;
  uint qi = (uint)q_start[b];
  int L = seq_lens[b];
  int jlo = window > 0 ? max(0, L - window) : 0;
  int s0 = (int)(split * split_keys);
  int s1 = min(L, s0 + (int)split_keys);
  int k0 = max(jlo, s0);
  uint fp8_head = (flags & FLAG_FP8_PER_HEAD) ? hk : 0u;

  float qe[LB_CE], qs[LB_GC];
  LB_VF qr[LB_GC * LB_CPL];
  float qscale = scale * (LB_FP8_FMT ? ks32[fp8_head] : 1.0f);
  for (uint g = 0; g < LB_GC; ++g) {
    qs[g] = 0.0f;
    for (uint cc = 0; cc < LB_CPL; ++cc) {
      uint ch = lane + LB_LPR * cc;
      bool has = g < ng && ch < LB_NCH;
      for (uint e = 0; e < LB_CE; ++e) { /* unconditional loads (see lb_fetch), index 0 where unused */
        float x = vload_half(has ? (qi * q_heads + hk * G + g0 + g) * LB_D + ch * LB_CE + e : 0u, q) * qscale;
        x = has ? x : 0.0f;
        qe[e] = x;
        qs[g] += x;
      }
      qr[g * LB_CPL + cc] = LB_VLOAD(0, qe);
    }
  }
  float m[LB_GC], l[LB_GC], zacc[LB_GC];
  LB_VF acc[LB_GC * LB_CPL];
  for (uint g = 0; g < LB_GC; ++g) m[g] = -INFINITY, l[g] = 0.0f, zacc[g] = 0.0f;
  for (uint i = 0; i < LB_GC * LB_CPL; ++i) acc[i] = (LB_VF)(0.0f);

  uint pa = (uint)k0 / page_size;
  uint pb = s1 > k0 ? ((uint)s1 + page_size - 1u) / page_size : pa;
#if LB_LPR > 1
  uint steps = (pb - pa + LB_NWH - 1u) / LB_NWH * (page_size / LB_KPS); /* uniform over the work-group */
#else /* no barrier in the key loop: each lane runs over its own pages only */
  uint steps = (pb > pa + gi ? (pb - pa - gi + LB_NWH - 1u) / LB_NWH : 0u) * (page_size / LB_KPS);
#endif
  uint buf = 0u;
  uint4 kb[2 * LB_NK], vb[2 * LB_NK];
  uint ksz[2 * LB_KPS], vsz[2 * LB_KPS];
  uint validb[2];
#define LB_FETCH(sl, n)                                                                                             \
  lb_fetch(sl, n, gi, lane, b, hk, pa, pb, k0, s1, kw, vw, ks16, kz16, vs16, vz16, block_table, max_blocks,      \
           page_size, kv_heads, kb, vb, ksz, vsz, validb)
#define LB_CONSUME(sl)                                                                                              \
  lb_consume(sl, t, grp, ng, &buf, softcap, qr, qs, m, l, zacc, acc, kb, vb, ksz, vsz, validb, red_s)
#if !LB_PREFETCH /* CPU devices: loads are synchronous, spare the registers */
  for (uint n = 0; n < steps; ++n) {
    LB_FETCH(0u, n);
    LB_CONSUME(0u);
  }
#else
  LB_FETCH(0u, 0u);
  for (uint n = 0; n < steps; n += 2u) { /* two steps per iteration: fixed register slots */
    if (n + 1u < steps) LB_FETCH(1u, n + 1u);
    LB_CONSUME(0u);
    if (n + 1u < steps) {
      if (n + 2u < steps) LB_FETCH(0u, n + 2u);
      LB_CONSUME(1u);
    }
  }
#endif
#undef LB_FETCH
#undef LB_CONSUME

  float vscale = LB_FP8_FMT ? vs32[fp8_head] : 1.0f;
  for (uint g = 0; g < LB_GC; ++g) {
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lane == 0u) {
      ml_s[grp] = m[g];
      ml_s[LB_NW + grp] = l[g];
    }
    for (uint cc = 0; cc < LB_CPL; ++cc) {
      uint ch = lane + LB_LPR * cc;
      if (ch < LB_NCH) LB_VSTORE(acc[g * LB_CPL + cc] + (LB_VF)(zacc[g]), 0, red_s + grp * LB_D + ch * LB_CE);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* head g of every head set: element i is head set i / LB_D, merged over that set's groups */
    uint cur = ~0u;
    float M = -INFINITY, lt = 0.0f; /* the current set's merged max and sum */
    for (uint i = t; i < LB_HS * LB_D; i += LB_WG) {
      uint set = i / LB_D, d = i % LB_D;
      uint gq = (c * LB_HS + set) * LB_GC + g; /* query head within the kv head's */
      if (gq >= G) continue;
      if (set != cur) {
        cur = set, M = -INFINITY, lt = 0.0f;
        for (uint w = set; w < LB_NW; w += LB_HS) M = lb_nan_max(M, ml_s[w]);
        for (uint w = set; w < LB_NW; w += LB_HS) lt += lb_softmax_p(ml_s[w], M) * ml_s[LB_NW + w];
      }
      float o = 0.0f;
      for (uint w = set; w < LB_NW; w += LB_HS) o += lb_softmax_p(ml_s[w], M) * red_s[w * LB_D + d];
      o *= vscale;
      uint hq = hk * G + gq;
      uint pbase = ((b * q_heads + hq) * splits + split) * (LB_D + 2u);
      if (splits > 1u) {
        part[pbase + d] = o;
        if (d == 0u) {
          part[pbase + LB_D] = M;
          part[pbase + LB_D + 1u] = lt;
        }
      } else {
        lb_store(out32, out16, flags, (qi * q_heads + hq) * LB_D + d, lt == 0.0f ? 0.0f : o / lt);
      }
    }
  }
}
#endif /* LB_GC */

/* ---- prefill ---------------------------------------------------------------------------------------
 * Same tiles, layouts and register tiles as attention.comp's PREFILL (see its header for the bank
 * analysis): vec4 rows with an odd stride in float4 (LB_RS), QKᵀ as LB_RQ x LB_RK float4 accumulators per
 * work-item, PV as LB_RP rows x LB_DV float4 columns per work-item. */
#ifdef LB_BQ
#define LB_D4 (LB_D / 4)
#define LB_RS (LB_D4 | 1)                         /* row stride of q_s / kv_s in float4, odd */
#define LB_SS (LB_BK + 1)                         /* s_s row stride in floats */
#define LB_LW (LB_RW % 4 == 0 ? 4 : 2)            /* words per K/V load (16 or 8 bytes) */
#define LB_NCH (LB_RW / LB_LW)                    /* loads per cache row */
#define LB_CE4 (LB_LW * LB_EPW / 4)               /* float4 per load once dequantized */
#define LB_RK (LB_BK % 2 == 0 ? 2 : 1)            /* QKᵀ: keys kg + LB_NKG·j, rows rg + LB_NRG·i */
#define LB_NKG (LB_BK / LB_RK)
#define LB_RQW (LB_BQ * LB_NKG / LB_WG)
#define LB_RQ (LB_RQW >= 4 ? 4 : LB_RQW >= 2 ? 2 : 1)
#define LB_NRG ((LB_BQ + LB_RQ - 1) / LB_RQ)
#define LB_NQK (LB_NRG * LB_NKG)
#define LB_QK_FULL (LB_NRG * LB_RQ == LB_BQ)
#define LB_D4P2 (LB_D4 & -LB_D4)                  /* PV: columns dg + LB_NDG·c, rows pg + LB_NRP·i */
#define LB_NDG0 (LB_D4P2 == LB_D4 ? LB_D4 / 2 : LB_D4P2)
#define LB_NDG1 (LB_NDG0 * LB_BQ >= LB_WG ? LB_NDG0 : LB_WG / LB_BQ)
#define LB_NDG (LB_NDG1 > LB_WG ? LB_WG : LB_NDG1 < 1 ? 1 : LB_NDG1)
#define LB_DV ((LB_D4 + LB_NDG - 1) / LB_NDG)
#define LB_NRP (LB_WG / LB_NDG)
#define LB_RP ((LB_BQ + LB_NRP - 1) / LB_NRP)
#define LB_PV_FULL (LB_NDG * LB_DV == LB_D4 && LB_NRP * LB_RP == LB_BQ)

/* Keys [tile, tile + LB_BK) of one tensor dequantized into kv_s (zeros past jhi): 16-byte loads
 * (8 for int4 at D 80), neighbouring work-items on neighbouring loads of a row. */
inline void lb_load_tile(__local float4* kv_s, __global const uint* words, __global const ushort* sc16,
                         __global const ushort* z16, __global const int* block_table, uint max_blocks,
                         uint page_size, uint kv_heads, uint b, uint hk, int tile, int jhi) {
  for (uint i = get_local_id(0); i < LB_BK * LB_NCH; i += LB_WG) {
    uint k = i / LB_NCH, ch = i % LB_NCH;
    int j = tile + (int)k;
    uint4 w = (uint4)(0u);
    float s = 1.0f, z = 0.0f;
    if (j < jhi) {
      uint row = lb_kv_row(block_table, max_blocks, page_size, kv_heads, b, (uint)j, hk);
      uint at = row * LB_RW + ch * LB_LW;
#if LB_LW == 4
      w = vload4(0, words + at);
#else
      w.xy = vload2(0, words + at);
#endif
#if LB_INT_FMT
      s = lb_h2f(sc16, row), z = lb_h2f(z16, row);
#endif
    }
    uint ws[4] = {w.x, w.y, w.z, w.w};
    float x[LB_LW * LB_EPW];
#pragma unroll
    for (uint c = 0; c < LB_LW; ++c) {
      lb_unpack_word(ws[c], x + c * LB_EPW);
#if LB_INT_FMT
#pragma unroll
      for (uint e = 0; e < LB_EPW; ++e) x[c * LB_EPW + e] = lb_kv_int_value(x[c * LB_EPW + e], s, z);
#endif
    }
#pragma unroll
    for (uint c = 0; c < LB_CE4; ++c) kv_s[k * LB_RS + ch * LB_CE4 + c] = vload4(c, x);
  }
}

__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1))) void lb_attention_prefill(LB_ATTN_ARGS) {
  __local float4 q_s[LB_BQ * LB_RS];
  __local float4 kv_s[LB_BK * LB_RS];
  __local float s_s[LB_BQ * LB_SS];
  __local float m_s[LB_BQ], l_s[LB_BQ], corr_s[LB_BQ];

  uint t = get_local_id(0);
  uint hk = get_group_id(1) % kv_heads, b = get_group_id(1) / kv_heads;
  int G = (int)(q_heads / kv_heads);
  int q0 = q_start[b], nq = q_start[b + 1] - q0;
  int L = seq_lens[b];
  int r0 = (int)(get_group_id(0) * LB_BQ); /* row r: query r / G, query head hk * G + r % G */
  if (r0 >= nq * G) return;                /* uniform for the work-group */
  int nrows = min((int)LB_BQ, nq * G - r0);
  int off = L - nq;
  bool causal = (flags & FLAG_CAUSAL) != 0u || window > 0;
  int jlo = window > 0 ? max(0, r0 / G + off - window + 1) : 0;
  int jhi = causal ? clamp((r0 + nrows - 1) / G + off + 1, 0, L) : L;
  uint fp8_head = (flags & FLAG_FP8_PER_HEAD) ? hk : 0u;

  float qscale = scale * (LB_FP8_FMT ? ks32[fp8_head] : 1.0f);
  for (uint i = t; i < LB_BQ * LB_D4; i += LB_WG) {
    uint r = i / LB_D4, d4 = i % LB_D4;
    int rr = r0 + (int)r;
    float4 x = (float4)(0.0f);
    if ((int)r < nrows)
      x = vload_half4(0, q + ((uint)(q0 + rr / G) * q_heads + hk * (uint)G + (uint)(rr % G)) * LB_D + 4u * d4) * qscale;
    q_s[r * LB_RS + d4] = x;
  }
  if (t < LB_BQ) {
    m_s[t] = -INFINITY;
    l_s[t] = 0.0f;
  }
  uint dg = t % LB_NDG, pg = t / LB_NDG;
  float4 o[LB_RP * LB_DV];
  for (uint i = 0; i < LB_RP * LB_DV; ++i) o[i] = (float4)(0.0f);

  for (int tile = jlo; tile < jhi; tile += LB_BK) {
    lb_load_tile(kv_s, kw, ks16, kz16, block_table, max_blocks, page_size, kv_heads, b, hk, tile, jhi);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint tt = t; tt < LB_NQK; tt += LB_WG) { /* S = Q Kᵀ in float4 accumulators */
      uint kg = tt % LB_NKG, rg = tt / LB_NKG;
      float4 acc[LB_RQ * LB_RK];
#pragma unroll
      for (uint a = 0; a < LB_RQ * LB_RK; ++a) acc[a] = (float4)(0.0f);
      for (uint d4 = 0; d4 < LB_D4; ++d4) {
        float4 kk[LB_RK];
#pragma unroll
        for (uint j = 0; j < LB_RK; ++j) kk[j] = kv_s[(kg + LB_NKG * j) * LB_RS + d4];
#pragma unroll
        for (uint i = 0; i < LB_RQ; ++i) {
          uint r = rg + LB_NRG * i;
          float4 qq = LB_QK_FULL || r < LB_BQ ? q_s[r * LB_RS + d4] : (float4)(0.0f);
#pragma unroll
          for (uint j = 0; j < LB_RK; ++j) acc[i * LB_RK + j] = fma(qq, kk[j], acc[i * LB_RK + j]);
        }
      }
#pragma unroll
      for (uint i = 0; i < LB_RQ; ++i) {
        uint r = rg + LB_NRG * i;
        if (!LB_QK_FULL && r >= LB_BQ) continue;
        int pos = (r0 + (int)r) / G + off;
#pragma unroll
        for (uint j = 0; j < LB_RK; ++j) {
          uint k = kg + LB_NKG * j;
          int key = tile + (int)k;
          bool visible = (int)r < nrows && key < jhi && (!causal || key <= pos) && (window <= 0 || key > pos - window);
          float4 a = acc[i * LB_RK + j];
          s_s[r * LB_SS + k] = visible ? lb_softcap((a.x + a.y) + (a.z + a.w), softcap) : -INFINITY;
        }
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    lb_load_tile(kv_s, vw, vs16, vz16, block_table, max_blocks, page_size, kv_heads, b, hk, tile, jhi);
    if (t < LB_BQ) corr_s[t] = lb_online_softmax(s_s + t * LB_SS, LB_BK, m_s + t, l_s + t);
    barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
    for (uint i = 0; i < LB_RP; ++i) { /* O = diag(corr) O + P V */
      uint r = pg + LB_NRP * i;
      float cr = LB_PV_FULL || r < LB_BQ ? corr_s[r] : 1.0f;
#pragma unroll
      for (uint c = 0; c < LB_DV; ++c) o[i * LB_DV + c] *= cr;
    }
    for (uint k = 0; k < LB_BK; ++k) {
      float4 vv[LB_DV];
#pragma unroll
      for (uint c = 0; c < LB_DV; ++c) {
        uint d4 = dg + LB_NDG * c;
        vv[c] = LB_PV_FULL || d4 < LB_D4 ? kv_s[k * LB_RS + d4] : (float4)(0.0f);
      }
#pragma unroll
      for (uint i = 0; i < LB_RP; ++i) {
        uint r = pg + LB_NRP * i;
        float p = LB_PV_FULL || r < LB_BQ ? s_s[r * LB_SS + k] : 0.0f;
#pragma unroll
        for (uint c = 0; c < LB_DV; ++c) o[i * LB_DV + c] = fma((float4)(p), vv[c], o[i * LB_DV + c]);
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  float vscale = LB_FP8_FMT ? vs32[fp8_head] : 1.0f;
#pragma unroll
  for (uint i = 0; i < LB_RP; ++i) {
    uint r = pg + LB_NRP * i;
    if ((int)r >= nrows) continue;
    float l = l_s[r];
    int rr = r0 + (int)r;
    uint ob = ((uint)(q0 + rr / G) * q_heads + hk * (uint)G + (uint)(rr % G)) * LB_D;
#pragma unroll
    for (uint c = 0; c < LB_DV; ++c) {
      uint d4 = dg + LB_NDG * c;
      if (!LB_PV_FULL && d4 >= LB_D4) continue;
      float4 y = l == 0.0f ? (float4)(0.0f) : o[i * LB_DV + c] * vscale / l;
      float ys[4] = {y.x, y.y, y.z, y.w};
      for (uint e = 0; e < 4u; ++e) lb_store(out32, out16, flags, ob + 4u * d4 + e, ys[e]);
    }
  }
}
#endif /* LB_BQ */

/* ---- split-K merge: work-group (q head, seq), work-items over D ------------------------------------
 * As attention.comp's MERGE: the splits' maxima read a split per work-item (M by a local-memory tree), the
 * weights e^(m_s - M) and weighted sums once per split into local memory, LB_MCH splits at a time; each
 * work-item sums its elements over the chunk with LB_MU loads in flight, in split order. */
#define LB_MCH 256u
#define LB_MU 8u
#define LB_DPT ((LB_D + LB_WG - 1) / LB_WG)
__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1))) void lb_attention_merge(
    __global const float* part, __global const int* q_start, __global float* out32, __global half* out16, uint q_heads,
    uint splits, uint flags) {
  __local float w_s[LB_MCH], l_s[LB_MCH], m_s[LB_WG];
  uint hq = get_group_id(0), b = get_group_id(1), t = get_local_id(0);
  uint qi = (uint)q_start[b];
  uint base = (b * q_heads + hq) * splits * (LB_D + 2u);
  float M = -INFINITY;
  for (uint s = t; s < splits; s += LB_WG) M = lb_nan_max(M, part[base + s * (LB_D + 2u) + LB_D]);
  m_s[t] = M;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint h = LB_WG / 2; h > 0u; h >>= 1) { /* LB_WG is a power of two */
    if (t < h) m_s[t] = lb_nan_max(m_s[t], m_s[t + h]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  M = m_s[0];
  float acc[LB_DPT];
  for (uint i = 0; i < LB_DPT; ++i) acc[i] = 0.0f;
  float l = 0.0f;
  for (uint c0 = 0; c0 < splits; c0 += LB_MCH) {
    uint n = min(LB_MCH, splits - c0);
    barrier(CLK_LOCAL_MEM_FENCE); /* the previous chunk's weights are read */
    for (uint s = t; s < n; s += LB_WG) {
      uint pb = base + (c0 + s) * (LB_D + 2u);
      float m = part[pb + LB_D];
      float w = lb_softmax_p(m, M);
      w_s[s] = w;
      l_s[s] = w * part[pb + LB_D + 1u];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = 0; s < n; ++s) l += l_s[s];
    for (uint i = 0; i < LB_DPT; ++i) {
      uint d = t + i * LB_WG;
      if (d < LB_D) {
        uint s = 0;
        for (; s + LB_MU <= n; s += LB_MU) {
          float v[LB_MU];
          for (uint j = 0; j < LB_MU; ++j) v[j] = part[base + (c0 + s + j) * (LB_D + 2u) + d];
          for (uint j = 0; j < LB_MU; ++j) acc[i] += w_s[s + j] * v[j];
        }
        for (; s < n; ++s) acc[i] += w_s[s] * part[base + (c0 + s) * (LB_D + 2u) + d];
      }
    }
  }
  for (uint i = 0; i < LB_DPT; ++i) {
    uint d = t + i * LB_WG;
    if (d < LB_D) lb_store(out32, out16, flags, (qi * q_heads + hq) * LB_D + d, l == 0.0f ? 0.0f : acc[i] / l);
  }
}
