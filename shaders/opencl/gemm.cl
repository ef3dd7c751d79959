/* gemm.cl — Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias) for fp16 or int4 weights (OpenCL C 1.2).
 *
 * Same family and algorithms as shaders/glsl/gemm_*.comp. fp16 data moves through vload_half /
 * vstore_half_rte (core OpenCL, no cl_khr_fp16 needed); int4 weights use the lowbit/w4.hpp layout
 * (uint words [ceil(K/8), N], nibble order 0,4,1,5,2,6,3,7); accumulation is fp32.
 * Variants from -D options:
 *   LB_W4   1 int4 weights, 0 fp16 weights
 *   LB_WG   work-group size
 *   GEMV (small M): LB_MT accumulator rows (>= M), LB_KC K chunk staged in local memory (>= LB_WG),
 *                   LB_COLS fp16 columns per work-group, LB_NC int4 columns per work-item (1, 4 or 8);
 *                   int4 forms: LB_XS staged, LB_KP > 1 K-partitioned, LB_LR lane-reduced (its
 *                   partition sums by a local-memory tree: OpenCL C 1.2 has no subgroup shuffles)
 *   tiled:          LB_BM, LB_BN, LB_BK (multiple of 8), LB_TM, LB_TN (multiple of 4);
 *                   LB_WG = (BM/TM)*(BN/TN); LB_STAGES K-pipeline depth (backend/tiled_config.hpp)
 * Split-K: work-group row 1 (GEMV) or z (tiled) indexes the K slice; with splits > 1 the fp32 partials
 * go to `part` and lb_gemm_reduce sums them in a second kernel (no inter-work-group synchronisation).
 */
#define FLAG_BIAS 1u
#define FLAG_ZEROS 2u
#define FLAG_OUT_F32 4u
#define FLAG_BIAS_F32 8u /* the bias buffer holds fp32 (else fp16) */

#ifndef LB_ANY_GROUP
#define LB_ANY_GROUP 0 /* 1: group % 8 != 0, a weight word may straddle two groups */
#endif
#ifndef LB_W4
#define LB_W4 1
#endif
#ifndef LB_WG
#define LB_WG 128
#endif

inline void lb_store_y(__global float* y32, __global half* y16, uint flags, uint idx, float v) {
  if (flags & FLAG_OUT_F32) y32[idx] = v;
  else vstore_half_rte(v, idx, y16);
}

inline float lb_bias(__global const half* bias, uint flags, uint n) {
  if (!(flags & FLAG_BIAS)) return 0.0f;
  return (flags & FLAG_BIAS_F32) ? ((__global const float*)bias)[n] : vload_half(n, bias);
}

/* int4 word -> 8 fp32 weights in K order: (q - zero) * scale, exact. */
inline void lb_dequant8(uint word, float zero, float scale, float* w) {
  for (int j = 0; j < 8; ++j) w[j] = ((float)((word >> (4 * ((j & 1) * 4 + (j >> 1)))) & 0xFu) - zero) * scale;
}

/* Groups that are not a multiple of 8 rows: the word holding rows krow..krow+7 of column n, each row
 * with its own group's scale and zero (rows past K hold the zero point and give 0). */
inline void lb_dequant8_rows(uint word, uint krow, uint n, uint N, uint K, uint group, uint flags,
                             __global const half* scales, __global const uchar* zeros, float* w) {
  uint groups = K / group;
  for (uint j = 0; j < 8u; ++j) {
    uint g = min((krow + j) / group, groups - 1u);
    float zero = (flags & FLAG_ZEROS) ? (float)zeros[g * N + n] : 8.0f;
    w[j] = ((float)((word >> (4u * ((j & 1u) * 4u + (j >> 1u)))) & 0xFu) - zero) * vload_half(g * N + n, scales);
  }
}

/* 1 for each of 4 rows r0 + (0..3) inside [gbegin, gbegin + glen), else 0; the unsigned difference
 * wraps below gbegin, so one comparison tests both edges. */
inline float4 lb_rows_in_group(uint r0, uint gbegin, uint glen) {
  uint4 d = (uint4)(r0 - gbegin) + (uint4)(0u, 1u, 2u, 3u);
  return select((float4)(0.0f), (float4)(1.0f), d < (uint4)(glen));
}

#ifdef LB_MT
#ifndef LB_KC
#define LB_KC 256
#endif
#ifndef LB_COLS
#define LB_COLS 4
#endif
#ifndef LB_NC
#define LB_NC 1
#endif

/* Where a finished Y[m, n] goes: the split-K partials, or Y with the bias. */
inline void lb_finish_value(__global float* y32, __global half* y16, __global const half* bias, uint M, uint N,
                            uint splits, uint flags, uint m, uint n, uint split, float v) {
  if (splits > 1u) y32[(split * M + m) * N + n] = v;
  else lb_store_y(y32, y16, flags, m * N + n, v + lb_bias(bias, flags, n));
}

inline void lb_finish(__global float* y32, __global half* y16, __global const half* bias, uint M, uint N, uint splits,
                      uint flags, uint n, uint split, const float* acc) {
  for (uint m = 0; m < LB_MT && m < M; ++m) lb_finish_value(y32, y16, bias, M, N, splits, flags, m, n, split, acc[m]);
}

#if LB_W4
#ifndef LB_KP
#define LB_KP 1 /* K partitions per work-group (LB_WG / LB_KP column work-items) */
#endif
#ifndef LB_RB
#define LB_RB 1 /* LB_KP > 1: accumulator rows reduced per pass */
#endif
#ifndef LB_XS
#define LB_XS 1 /* X staged in local memory in LB_KC chunks (LB_KP == 1), else read from global memory */
#endif
#ifndef LB_LR
#define LB_LR 0 /* 1: the lane-reduced form (LB_XS 0) */
#endif
#define LB_CT (LB_WG / LB_KP)
#ifndef LB_UW
#define LB_UW 4 /* words whose loads are issued together, before their math (1 on CPU devices) */
#endif

/* The 8 X values of rows row..row+7 of row m (0 past M or K): from the staged chunk starting at row
 * kc, or from global memory (one 16-byte load when rows are 16-byte aligned). */
inline void lb_x8(__global const half* x, __local const float* smem, uint M, uint K, uint m, uint row, uint kc,
                  float4* xa, float4* xb) {
#if LB_XS
  __local const float* xr = smem + m * LB_KC + row - kc;
  *xa = vload4(0, xr), *xb = vload4(1, xr);
#else
  if (m >= M) {
    *xa = (float4)(0.0f), *xb = (float4)(0.0f);
  } else if ((K & 7u) == 0u) {
    float8 v = vload_half8((m * K + row) >> 3, x);
    *xa = v.lo, *xb = v.hi;
  } else {
    float t[8];
    for (uint c = 0; c < 8u; ++c) t[c] = row + c < K ? vload_half(m * K + row + c, x) : 0.0f;
    *xa = (float4)(t[0], t[1], t[2], t[3]), *xb = (float4)(t[4], t[5], t[6], t[7]);
  }
#endif
}

/* 2^23 + the zero point of scale index i (8 without zeros). The load is unconditional (index 0 of the
 * stand-in buffer the host binds without zeros) and so are the callers' word and X loads (a word row past
 * the range clamped to its last row, unused): a load inside a branch made RADV's compiler (the Vulkan build
 * of these kernels) wait for it before the branch, so loads meant to be in flight together went one DRAM
 * latency after another. */
inline float lb_zero_base(__global const uchar* zeros, uint i, uint flags) {
  float z = (float)zeros[(flags & FLAG_ZEROS) ? i : 0u];
  return 8388608.0f + ((flags & FLAG_ZEROS) ? z : 8.0f);
}

/* Words of word row `row` for the LB_NC columns from n0, into wv[0 .. LB_NC). */
inline void lb_load_words(__global const uint* w, uint N, uint row, uint n0, uint* wv) {
#if LB_NC == 8
  uint8 q = vload8((row * N + n0) >> 3, w);
  wv[0] = q.s0, wv[1] = q.s1, wv[2] = q.s2, wv[3] = q.s3, wv[4] = q.s4, wv[5] = q.s5, wv[6] = q.s6, wv[7] = q.s7;
#elif LB_NC == 4
  uint4 q = vload4((row * N + n0) >> 2, w);
  wv[0] = q.s0, wv[1] = q.s1, wv[2] = q.s2, wv[3] = q.s3;
#else
  wv[0] = w[row * N + n0];
#endif
}

/* q - zero of rows 0..3 (lo) and 4..7 (hi) of one word, exact; zb = 2^23 + zero: nibble | 0x4B000000 is
 * the float 2^23 + q, so one OR and one subtract give q - zero. */
inline void lb_word_q(uint word, float zb, float4* lo, float4* hi) {
  *lo = as_float4(((uint4)(word, word >> 16, word >> 4, word >> 20) & 0xFu) | 0x4B000000u) - zb;
  *hi = as_float4(((uint4)(word >> 8, word >> 24, word >> 12, word >> 28) & 0xFu) | 0x4B000000u) - zb;
}

#if LB_LR
/* LR: adds word rows [w0, w1) into accn with each word's rows scaled before their products, so that an
 * output has one accumulator: LB_UW words' loads first, the group's scales and zeros loaded when a row
 * passes the cached group, a word straddling group edges with each row's own group. */
inline void lb_accumulate_scaled(__global const half* x, __local const float* smem, __global const uint* w,
                                 __global const half* scales, __global const uchar* zeros, uint M, uint N, uint K,
                                 uint group, uint flags, uint w0, uint w1, uint n0, float* accn) {
  float gs[LB_NC], gz[LB_NC];
  uint gnext = 0u;
  for (uint wr = w0; wr < w1; wr += LB_UW) {
    uint wv[LB_UW * LB_NC];
    for (uint u = 0; u < LB_UW; ++u) lb_load_words(w, N, min(wr + u, w1 - 1u), n0, wv + u * LB_NC);
    for (uint u = 0; u < LB_UW && wr + u < w1; ++u) {
      uint row = (wr + u) * 8u;
      if (row >= gnext) {
        uint g = row / group;
        for (uint c = 0; c < LB_NC; ++c) {
          uint n = min(n0 + c, N - 1u);
          gs[c] = vload_half(g * N + n, scales);
          gz[c] = lb_zero_base(zeros, g * N + n, flags);
        }
        gnext = (g + 1u) * group;
      }
      bool straddles = row + 8u > gnext && gnext < K;
      for (uint c = 0; c < LB_NC; ++c) {
        float4 lo, hi;
        if (straddles) {
          float w8[8];
          lb_dequant8_rows(wv[u * LB_NC + c], row, min(n0 + c, N - 1u), N, K, group, flags, scales, zeros, w8);
          lo = vload4(0, w8), hi = vload4(1, w8);
        } else {
          lb_word_q(wv[u * LB_NC + c], gz[c], &lo, &hi);
          lo *= gs[c], hi *= gs[c];
        }
        for (uint m = 0; m < LB_MT; ++m) {
          float4 xa, xb;
          lb_x8(x, smem, M, K, m, row, 0u, &xa, &xb);
          accn[m * LB_NC + c] += dot(xa, lo) + dot(xb, hi);
        }
      }
    }
  }
}
#endif

/* Adds rows [r0, r1) of K into accn, group by group: scales and zeros once per group, sum (q - zero) * x,
 * then scale the group's sums. A group need not be a multiple of 8 rows: a word straddling two groups
 * is visited once per group, its rows outside the current group masked to 0. kc: first row of the
 * staged X chunk (LB_XS). */
inline void lb_accumulate(__global const half* x, __local const float* smem, __global const uint* w,
                          __global const half* scales, __global const uchar* zeros, uint M, uint N, uint K,
                          uint group, uint flags, uint r0, uint r1, uint kc, uint n0, float* accn, uint* wv,
                          bool primed) {
  uint r = r0;
  while (r < r1) {
    uint g = r / group;
    uint gbegin = g * group;
    uint gend = min(r1, gbegin + group);
    float s[LB_NC], zb[LB_NC];
    for (uint c = 0; c < LB_NC; ++c) {
      uint n = min(n0 + c, N - 1u);
      s[c] = vload_half(g * N + n, scales);
      zb[c] = lb_zero_base(zeros, g * N + n, flags);
    }
    float part[LB_MT * LB_NC];
    for (uint i = 0; i < LB_MT * LB_NC; ++i) part[i] = 0.0f;
    for (uint k = r & ~7u; k < gend; k += 8u * LB_UW) {
      /* the loads of LB_UW words first, so they are in flight together; `primed`: wv already holds the
       * words at r0 (the staged form loads them before its barriers) */
      if (!primed || k != r0)
        for (uint u = 0; u < LB_UW; ++u) lb_load_words(w, N, min((k >> 3) + u, (gend - 1u) >> 3), n0, wv + u * LB_NC);
      for (uint u = 0; u < LB_UW; ++u) {
        uint kk = k + 8u * u;
        if (kk >= gend) break;
#if LB_ANY_GROUP
        bool straddles = kk < gbegin || kk + 8u > gbegin + group;
        float4 in_lo = straddles ? lb_rows_in_group(kk, gbegin, group) : (float4)(1.0f);
        float4 in_hi = straddles ? lb_rows_in_group(kk + 4u, gbegin, group) : (float4)(1.0f);
#define LB_IN_GROUP(v, mask) ((v) * (mask))
#else
#define LB_IN_GROUP(v, mask) (v) /* every word lies inside one group */
#endif
        for (uint c = 0; c < LB_NC; ++c) {
          float4 lo, hi;
          lb_word_q(wv[u * LB_NC + c], zb[c], &lo, &hi);
          lo = LB_IN_GROUP(lo, in_lo), hi = LB_IN_GROUP(hi, in_hi);
          for (uint m = 0; m < LB_MT; ++m) {
            float4 xa, xb;
            lb_x8(x, smem, M, K, m, kk, kc, &xa, &xb);
            part[m * LB_NC + c] += dot(xa, lo) + dot(xb, hi);
          }
        }
      }
    }
    r = gend; /* the next group may begin inside the last word */
    for (uint i = 0; i < LB_MT * LB_NC; ++i) accn[i] += part[i] * s[i % LB_NC];
  }
}
#endif

/* int4: LB_NC adjacent columns per work-item; LB_KP work-items of a work-group share a column set, each
 * taking one contiguous run of the slice's word rows, their sums added in local memory in a fixed order
 * (the launch planner, backend/gemm_plan.hpp, picks LB_CT / LB_KP / split-K from the device). */
__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1)))
void lb_gemm_gemv(__global const half* x, __global const uint* w, __global const half* scales,
                  __global const uchar* zeros, __global const half* bias, __global float* y32,
                  __global half* y16, uint M, uint N, uint K, uint group, uint k_split, uint splits,
                  uint flags) {
  __local float smem[LB_MT * LB_KC];
  uint lid = get_local_id(0);
  uint split = get_group_id(1);
  uint k0 = split * k_split, k1 = min(K, k0 + k_split);
  float acc[LB_MT];
  for (uint m = 0; m < LB_MT; ++m) acc[m] = 0.0f;
#if LB_W4
  uint ct = lid % LB_CT, kp = lid / LB_CT;
  uint n0 = (get_group_id(0) * LB_CT + ct) * LB_NC;
  float accn[LB_MT * LB_NC];
  for (uint i = 0; i < LB_MT * LB_NC; ++i) accn[i] = 0.0f;
  uint wv[LB_UW * LB_NC]; /* the words of LB_UW word rows, loaded before their math */
#if LB_XS
  for (uint kc = k0; kc < k1; kc += LB_KC) {
    uint kn = min((uint)LB_KC, k1 - kc);
    /* the chunk's first LB_UW word rows: their loads go out before the staging barriers (they need no X) */
    if (n0 < N)
      for (uint u = 0; u < LB_UW; ++u) lb_load_words(w, N, (kc >> 3) + min(u, (kn - 1u) >> 3), n0, wv + u * LB_NC);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint i = lid; i < LB_MT * LB_KC; i += LB_WG) {
      uint m = i / LB_KC, kk = i % LB_KC;
      float h = vload_half(min(m, M - 1u) * K + kc + min(kk, kn - 1u), x); /* unconditional (clamped) */
      smem[i] = (m < M && kk < kn) ? h : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (n0 < N) lb_accumulate(x, smem, w, scales, zeros, M, N, K, group, flags, kc, kc + kn, kc, n0, accn, wv, true);
  }
#elif LB_LR
  { /* this partition's run of the slice's word rows */
    uint wbeg = k0 >> 3, wend = (k1 + 7u) >> 3, run = (wend - wbeg + LB_KP - 1u) / LB_KP;
    uint w0 = min(wend, wbeg + kp * run), w1 = min(wend, w0 + run);
    if (n0 < N) lb_accumulate_scaled(x, smem, w, scales, zeros, M, N, K, group, flags, w0, w1, n0, accn);
  }
#else
  { /* this partition's run of whole word rows of the slice */
    uint words = (k1 - k0 + 7u) >> 3, run = (words + LB_KP - 1u) / LB_KP;
    uint r0 = min(k1, k0 + kp * run * 8u), r1 = min(k1, r0 + run * 8u);
    if (n0 < N) lb_accumulate(x, smem, w, scales, zeros, M, N, K, group, flags, r0, r1, 0u, n0, accn, wv, false);
  }
#endif
#if LB_LR
  /* LR: the LB_KP partition sums of each output ([output][partition] in local memory, odd stride) added by
   * a pairwise tree whose pairs every work-item shares, LB_RB accumulator rows per pass, then stored. */
  {
    const uint JB = LB_RB * LB_NC, SP = LB_KP > 1 ? LB_KP + 1 : 1;
    uint colbase = get_group_id(0) * LB_CT * LB_NC;
    for (uint jb = 0; jb < LB_MT * LB_NC; jb += JB) {
      barrier(CLK_LOCAL_MEM_FENCE);
      for (uint i = 0; i < JB; ++i) smem[(i * LB_CT + ct) * SP + kp] = accn[jb + i];
      barrier(CLK_LOCAL_MEM_FENCE);
      for (uint h = LB_KP / 2u; h > 0u; h >>= 1) {
        for (uint t = lid; t < JB * LB_CT * h; t += LB_WG) {
          uint o = t / h, j = t % h;
          smem[o * SP + j] += smem[o * SP + j + h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
      }
      for (uint t = lid; t < JB * LB_CT; t += LB_WG) { /* sum jb + t / CT of column work-item t % CT */
        uint j = jb + t / LB_CT, m = j / LB_NC, n = colbase + (t % LB_CT) * LB_NC + j % LB_NC;
        if (m < M && n < N) lb_finish_value(y32, y16, bias, M, N, splits, flags, m, n, split, smem[t * SP]);
      }
    }
  }
#elif LB_KP > 1
  /* the partitions' sums of each output, added in a fixed order: LB_RB accumulator rows per pass; every
   * work-item parks its sums ([row][partition][column work-item][column]), T work-items per output each
   * add LB_KP / T consecutive partitions, and the output's owner (partition 0) adds those T partials. */
#define LB_O (LB_RB * LB_CT * LB_NC)
#define LB_T (LB_WG / LB_O)
  for (uint mb = 0; mb < LB_MT; mb += LB_RB) {
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint rr = 0; rr < LB_RB; ++rr)
      for (uint c = 0; c < LB_NC; ++c) smem[((rr * LB_KP + kp) * LB_CT + ct) * LB_NC + c] = accn[(mb + rr) * LB_NC + c];
    barrier(CLK_LOCAL_MEM_FENCE);
    uint o = lid / LB_T, t = lid % LB_T; /* output o = (row r, column work-item, column), share t */
    uint r = o / (LB_CT * LB_NC), cc = o % (LB_CT * LB_NC);
    float partial = 0.0f;
    for (uint j = t * (LB_KP / LB_T); j < (t + 1u) * (LB_KP / LB_T); ++j)
      partial += smem[(r * LB_KP + j) * LB_CT * LB_NC + cc];
    barrier(CLK_LOCAL_MEM_FENCE);
    smem[lid] = partial; /* = smem[o * LB_T + t] */
    barrier(CLK_LOCAL_MEM_FENCE);
    if (kp == 0u)
      for (uint rr = 0; rr < LB_RB; ++rr)
        for (uint c = 0; c < LB_NC; ++c) {
          uint oo = (rr * LB_CT + ct) * LB_NC + c;
          float v = 0.0f;
          for (uint j = 0; j < LB_T; ++j) v += smem[oo * LB_T + j];
          accn[(mb + rr) * LB_NC + c] = v;
        }
  }
  barrier(CLK_LOCAL_MEM_FENCE); /* a plain region for the stores below (PoCL 3.1 asserts without it) */
#endif
  for (uint c = 0; !LB_LR && kp == 0u && c < LB_NC && n0 + c < N; ++c) { /* the outputs' owners (partition 0) finish */
    float col[LB_MT];
    for (uint m = 0; m < LB_MT; ++m) col[m] = accn[m * LB_NC + c];
    lb_finish(y32, y16, bias, M, N, splits, flags, n0 + c, split, col);
  }
#else
  const uint LANES = LB_WG / LB_COLS;
  uint c = lid / LANES, lane = lid % LANES;
  uint n = get_group_id(0) * LB_COLS + c;
  __global const half* wh = (__global const half*)w;
  if (n < N) {
    if ((K & 7u) == 0u) {
      for (uint k = k0 + lane * 8u; k < k1; k += LANES * 8u) {
        float8 wv = vload_half8((n * K + k) >> 3, wh);
        for (uint m = 0; m < LB_MT && m < M; ++m) {
          float8 xv = vload_half8((m * K + k) >> 3, x);
          acc[m] += dot(xv.lo, wv.lo) + dot(xv.hi, wv.hi);
        }
      }
    } else {
      for (uint k = k0 + lane; k < k1; k += LANES) {
        float wk = vload_half(n * K + k, wh);
        for (uint m = 0; m < LB_MT && m < M; ++m) acc[m] += vload_half(m * K + k, x) * wk;
      }
    }
  }
  for (uint m = 0; m < LB_MT; ++m) smem[(c * LB_MT + m) * LANES + lane] = acc[m];
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint stride = LANES / 2u; stride > 0u; stride >>= 1) {
    if (lane < stride)
      for (uint m = 0; m < LB_MT; ++m) smem[(c * LB_MT + m) * LANES + lane] += smem[(c * LB_MT + m) * LANES + lane + stride];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lane == 0u && n < N) {
    for (uint m = 0; m < LB_MT; ++m) acc[m] = smem[(c * LB_MT + m) * LANES];
    lb_finish(y32, y16, bias, M, N, splits, flags, n, split, acc);
  }
#endif
}
#endif /* LB_MT */

#ifdef LB_BM
/* Tiled path: the algorithm of shaders/glsl/gemm_tiled.comp (see its header for the pipeline and the
 * conflict-free shared-memory layouts): BM x BN tiles, K steps of LB_BK, LB_STAGES-deep pipeline
 * (1 serial, 2 double buffer, >= 3 loads S-1 steps ahead in registers), LB_TM x LB_TN accumulators
 * per work-item (rows ty + i*BM/TM, column quads tx + j*BN/TN), fma with k ascending, so that every
 * pipeline depth gives the same bits. Work-group z is the K slice; with splits > 1 the fp32 partials
 * go to y32 [splits, M, N] and lb_gemm_reduce adds them (and the bias). */
#ifndef LB_STAGES
#define LB_STAGES 2
#endif
#define LB_QA (LB_BK / 4 + 1)                      /* float4 quads per As row (odd) */
#define LB_QB (LB_BN / 4)                          /* float4 quads per Bs row */
#define LB_NBUF (LB_STAGES == 1 ? 1 : 2)
#define LB_SLOTS (LB_STAGES > 2 ? LB_STAGES - 1 : 1)
#define LB_XC (LB_BM * LB_BK / 8)                  /* 8-half X chunks per step */
#define LB_WC ((LB_BK / 8) * LB_QB)                /* (word row, column quad) weight chunks per step */
#define LB_XL ((LB_XC + LB_WG - 1) / LB_WG)
#define LB_WL ((LB_WC + LB_WG - 1) / LB_WG)
#define LB_RM (LB_BM / LB_TM)
#define LB_RN (LB_BN / LB_TN)
#define LB_TQ (LB_TN / 4)
#define LB_WV (LB_W4 ? 1 : 4)                      /* uint4 per weight chunk: 4 words, or 4 x 8 halves */

typedef struct {
  __global const half* x;
  __global const uint* w;
  __global const half* scales;
  __global const uchar* zeros;
  uint M, N, K, group, flags, k_begin, k_end, m0, n0, lid;
} LbTile;

/* One step's global loads, held until they are dequantized into local memory. */
typedef struct {
  uint4 x[LB_XL];
  uint4 w[LB_WL][LB_WV];
  float4 s[LB_WL], z[LB_WL];
} LbStep;

/* 8 halves (raw bits) starting at element `base` of p, those at k >= k_end as 0: one 16-byte load
 * when K % 8 == 0 (then the chunk lies wholly inside or outside the slice). */
inline uint4 lb_load8(__global const half* p, uint base, uint k, const LbTile* T) {
  __global const ushort* h = (__global const ushort*)p;
  if (T->K % 8u == 0u) return k < T->k_end ? vload4(base >> 3, (__global const uint*)p) : (uint4)(0u);
  uint v[8];
  for (uint j = 0; j < 8u; ++j) v[j] = k + j < T->k_end ? (uint)h[base + j] : 0u;
  return (uint4)(v[0] | (v[1] << 16), v[2] | (v[3] << 16), v[4] | (v[5] << 16), v[6] | (v[7] << 16));
}

inline void lb_tile_load(LbStep* r, uint t, const LbTile* T) {
  uint k0 = T->k_begin + t * LB_BK;
#pragma unroll
  for (uint i = 0; i < LB_XL; ++i) {
    uint e = T->lid + i * LB_WG, row = e % LB_BM, k = k0 + (e / LB_BM) * 8u; /* row fastest */
    r->x[i] = e < LB_XC && T->m0 + row < T->M ? lb_load8(T->x, (T->m0 + row) * T->K + k, k, T) : (uint4)(0u);
  }
#pragma unroll
  for (uint i = 0; i < LB_WL; ++i) {
    uint e = T->lid + i * LB_WG;
    uint n = T->n0 + (e % LB_QB) * 4u, krow = k0 + (e / LB_QB) * 8u;
    bool ok = e < LB_WC && krow < T->k_end;
#if LB_W4
    uint row = (krow >> 3) * T->N, g = min(krow / T->group, T->K / T->group - 1u);
    uint4 q = (uint4)(0u);
    float sc[4], zp[4];
    if (ok && T->N % 4u == 0u && n + 3u < T->N) {
      q = vload4((row + n) >> 2, T->w);
    } else {
      uint qv[4];
      for (uint c = 0; c < 4u; ++c) qv[c] = ok && n + c < T->N ? T->w[row + n + c] : 0u;
      q = (uint4)(qv[0], qv[1], qv[2], qv[3]);
    }
    for (uint c = 0; c < 4u; ++c) {
      bool inside = ok && n + c < T->N;
      sc[c] = inside ? vload_half(g * T->N + n + c, T->scales) : 0.0f;
      zp[c] = inside && (T->flags & FLAG_ZEROS) ? (float)T->zeros[g * T->N + n + c] : 8.0f;
    }
    r->w[i][0] = q;
    r->s[i] = (float4)(sc[0], sc[1], sc[2], sc[3]);
    r->z[i] = (float4)(zp[0], zp[1], zp[2], zp[3]);
#else
    for (uint c = 0; c < 4u; ++c)
      r->w[i][c] = ok && n + c < T->N ? lb_load8((__global const half*)T->w, (n + c) * T->K + krow, krow, T) : (uint4)(0u);
#endif
  }
}

inline float8 lb_unpack8(uint4 h) { return vload_half8(0, (const half*)&h); }

/* registers of step t -> local buffer (As, Bs point at it): X as fp32, int4 weights dequantized */
inline void lb_tile_store(const LbStep* r, __local float4* As, __local float4* Bs, uint t, const LbTile* T) {
  uint k0 = T->k_begin + t * LB_BK;
#pragma unroll
  for (uint i = 0; i < LB_XL; ++i) {
    uint e = T->lid + i * LB_WG;
    if (e >= LB_XC) continue;
    float8 v = lb_unpack8(r->x[i]);
    uint a = (e % LB_BM) * LB_QA + (e / LB_BM) * 2u;
    As[a] = v.lo;
    As[a + 1u] = v.hi;
  }
#pragma unroll
  for (uint i = 0; i < LB_WL; ++i) {
    uint e = T->lid + i * LB_WG;
    if (e >= LB_WC) continue;
    uint cq = e % LB_QB, kw = e / LB_QB;
    float wv[4][8];
#if LB_W4
    uint n = T->n0 + cq * 4u, krow = k0 + kw * 8u;
    uint q[4] = {r->w[i][0].s0, r->w[i][0].s1, r->w[i][0].s2, r->w[i][0].s3};
    float sc[4] = {r->s[i].s0, r->s[i].s1, r->s[i].s2, r->s[i].s3};
    float zp[4] = {r->z[i].s0, r->z[i].s1, r->z[i].s2, r->z[i].s3};
    for (uint c = 0; c < 4u; ++c) {
      if (LB_ANY_GROUP && krow < T->k_end && n + c < T->N) /* the word may straddle groups */
        lb_dequant8_rows(q[c], krow, n + c, T->N, T->K, T->group, T->flags, T->scales, T->zeros, wv[c]);
      else
        lb_dequant8(q[c], zp[c], sc[c], wv[c]);
    }
#else
    for (uint c = 0; c < 4u; ++c) vstore8(lb_unpack8(r->w[i][c]), 0, wv[c]);
#endif
    for (uint j = 0; j < 8u; ++j) Bs[(kw * 8u + j) * LB_QB + cq] = (float4)(wv[0][j], wv[1][j], wv[2][j], wv[3][j]);
  }
}

/* acc += the LB_BK-row product of one local buffer: per k, TM x TN fma, k ascending */
inline void lb_tile_multiply(__local const float4* As, __local const float4* Bs, float* acc, uint lid) {
  uint tx = lid % LB_RN, ty = lid / LB_RN;
  for (uint kq = 0; kq < LB_BK / 4; ++kq) {
    float4 a[LB_TM];
#pragma unroll
    for (uint i = 0; i < LB_TM; ++i) a[i] = As[(ty + i * LB_RM) * LB_QA + kq];
#pragma unroll
    for (uint kk = 0; kk < 4u; ++kk) {
      float b[LB_TN];
#pragma unroll
      for (uint j = 0; j < LB_TQ; ++j) vstore4(Bs[(kq * 4u + kk) * LB_QB + tx + j * LB_RN], 0, b + 4 * j);
#pragma unroll
      for (uint i = 0; i < LB_TM; ++i) {
        float av = kk == 0u ? a[i].s0 : kk == 1u ? a[i].s1 : kk == 2u ? a[i].s2 : a[i].s3;
#pragma unroll
        for (uint j = 0; j < LB_TN; ++j) acc[i * LB_TN + j] = fma(av, b[j], acc[i * LB_TN + j]);
      }
    }
  }
}

__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1)))
void lb_gemm_tiled(__global const half* x, __global const uint* w, __global const half* scales,
                   __global const uchar* zeros, __global const half* bias, __global float* y32,
                   __global half* y16, uint M, uint N, uint K, uint group, uint k_split, uint splits,
                   uint flags) {
  __local float4 As[LB_NBUF * LB_BM * LB_QA];
  __local float4 Bs[LB_NBUF * LB_BK * LB_QB];
  uint split = get_group_id(2);
  LbTile T = {x, w, scales, zeros, M, N, K, group, flags, split * k_split, min(K, split * k_split + k_split),
              get_group_id(1) * LB_BM, get_group_id(0) * LB_BN, get_local_id(0)};
  float acc[LB_TM * LB_TN];
  for (uint i = 0; i < LB_TM * LB_TN; ++i) acc[i] = 0.0f;
  uint steps = (T.k_end - T.k_begin + LB_BK - 1u) / LB_BK;
  LbStep slot[LB_SLOTS];
#define LB_AS(buf) (As + (buf) * LB_BM * LB_QA)
#define LB_BS(buf) (Bs + (buf) * LB_BK * LB_QB)
#if LB_STAGES == 1
  for (uint t = 0; t < steps; ++t) {
    lb_tile_load(&slot[0], t, &T);
    lb_tile_store(&slot[0], LB_AS(0), LB_BS(0), t, &T);
    barrier(CLK_LOCAL_MEM_FENCE);
    lb_tile_multiply(LB_AS(0), LB_BS(0), acc, T.lid);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
#else
#pragma unroll
  for (uint s = 0; s < LB_SLOTS; ++s)
    if (s < steps) lb_tile_load(&slot[s], s, &T);
  if (steps > 0u) lb_tile_store(&slot[0], LB_AS(0), LB_BS(0), 0u, &T);
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint t0 = 0; t0 < steps; t0 += LB_SLOTS) {
#pragma unroll
    for (uint s = 0; s < LB_SLOTS; ++s) {
      uint t = t0 + s;
      if (t < steps) {
        uint nb = (t + 1u) & 1u;
#if LB_STAGES == 2
        if (t + 1u < steps) lb_tile_load(&slot[0], t + 1u, &T); /* in flight during the multiply */
        lb_tile_multiply(LB_AS(t & 1u), LB_BS(t & 1u), acc, T.lid);
        if (t + 1u < steps) lb_tile_store(&slot[0], LB_AS(nb), LB_BS(nb), t + 1u, &T);
#else
        /* slot s held step t (already in local memory): reuse it for step t + S - 1 */
        if (t + LB_SLOTS < steps) lb_tile_load(&slot[s], t + LB_SLOTS, &T);
        if (t + 1u < steps) lb_tile_store(&slot[(s + 1u) % LB_SLOTS], LB_AS(nb), LB_BS(nb), t + 1u, &T);
        lb_tile_multiply(LB_AS(t & 1u), LB_BS(t & 1u), acc, T.lid);
#endif
        barrier(CLK_LOCAL_MEM_FENCE);
      }
    }
  }
#endif
  uint tx = T.lid % LB_RN, ty = T.lid / LB_RN;
  for (uint i = 0; i < LB_TM; ++i)
    for (uint j = 0; j < LB_TN; ++j) {
      uint m = T.m0 + ty + i * LB_RM, n = T.n0 + (tx + (j / 4u) * LB_RN) * 4u + j % 4u;
      if (m >= M || n >= N) continue;
      if (splits > 1u) y32[(split * M + m) * N + n] = acc[i * LB_TN + j];
      else lb_store_y(y32, y16, flags, m * N + n, acc[i * LB_TN + j] + lb_bias(bias, flags, n));
    }
}
#endif /* LB_BM */

/* split-K second pass: y = sum of partials [splits, M, N] + bias; the slices' loads go out 8 at a time
 * (one memory wait per group on a GPU), added in slice order */
__kernel void lb_gemm_reduce(__global const float* part, __global const half* bias, __global float* y32,
                             __global half* y16, uint M, uint N, uint splits, uint flags) {
  uint i = get_global_id(0);
  if (i >= M * N) return;
  uint mn = M * N, s = 0;
  float acc = 0.0f;
  for (; s + 8u <= splits; s += 8u) {
    float v[8];
    for (uint j = 0; j < 8u; ++j) v[j] = part[(s + j) * mn + i];
    for (uint j = 0; j < 8u; ++j) acc += v[j];
  }
  for (; s < splits; ++s) acc += part[s * mn + i];
  lb_store_y(y32, y16, flags, i, acc + lb_bias(bias, flags, i % N));
}

/* act_order: out[m, j] = x[m, perm[j]] (fp16 bits) */
__kernel void lb_gather(__global const ushort* x, __global const int* perm, __global ushort* out, uint M, uint K) {
  uint i = get_global_id(0);
  if (i >= M * K) return;
  uint m = i / K, j = i % K;
  out[i] = x[m * K + (uint)perm[j]];
}
