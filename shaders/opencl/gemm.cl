/* gemm.cl — Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias) for fp16 or int4 weights (OpenCL C 1.2).
 *
 * Same family and algorithms as shaders/glsl/gemm_*.comp. fp16 data moves through vload_half /
 * vstore_half_rte (core OpenCL, no cl_khr_fp16 needed); int4 weights use the lowbit/w4.hpp layout
 * (uint words [ceil(K/8), N], nibble order 0,4,1,5,2,6,3,7); accumulation is fp32.
 * Variants from -D options:
 *   LB_W4   1 int4 weights, 0 fp16 weights
 *   LB_WG   work-group size
 *   GEMV (small M): LB_MT accumulator rows (>= M), LB_KC K chunk staged in local memory (>= LB_WG),
 *                   LB_COLS fp16 columns per work-group, LB_NC int4 columns per work-item (1, 4 or 8)
 *   tiled:          LB_BM, LB_BN, LB_BK (multiple of 8), LB_TM, LB_TN; LB_WG = (BM/TM)*(BN/TN)
 * Split-K (GEMV): work-group row 1 indexes the K slice; with splits > 1 the fp32 partials go to
 * `part` and lb_gemm_reduce sums them in a second kernel (no inter-work-group synchronisation).
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

inline void lb_finish(__global float* y32, __global half* y16, __global const half* bias, uint M, uint N, uint splits,
                      uint flags, uint n, uint split, const float* acc) {
  for (uint m = 0; m < LB_MT && m < M; ++m) {
    if (splits > 1u) y32[(split * M + m) * N + n] = acc[m];
    else lb_store_y(y32, y16, flags, m * N + n, acc[m] + lb_bias(bias, flags, n));
  }
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

/* Adds rows [r0, r1) of K into accn, group by group: scales and zeros once per group, sum (q - zero) * x,
 * then scale the group's sums. A group need not be a multiple of 8 rows: a word straddling two groups
 * is visited once per group, its rows outside the current group masked to 0. kc: first row of the
 * staged X chunk (LB_XS). */
inline void lb_accumulate(__global const half* x, __local const float* smem, __global const uint* w,
                          __global const half* scales, __global const uchar* zeros, uint M, uint N, uint K,
                          uint group, uint flags, uint r0, uint r1, uint kc, uint n0, float* accn) {
  uint r = r0;
  while (r < r1) {
    uint g = r / group;
    uint gbegin = g * group;
    uint gend = min(r1, gbegin + group);
    float s[LB_NC], zb[LB_NC];
    for (uint c = 0; c < LB_NC; ++c) {
      uint n = min(n0 + c, N - 1u);
      s[c] = vload_half(g * N + n, scales);
      zb[c] = 8388608.0f + ((flags & FLAG_ZEROS) ? (float)zeros[g * N + n] : 8.0f);
    }
    float part[LB_MT * LB_NC];
    for (uint i = 0; i < LB_MT * LB_NC; ++i) part[i] = 0.0f;
    for (uint k = r & ~7u; k < gend; k += 8u * LB_UW) {
      uint wv[LB_UW * LB_NC];
      for (uint u = 0; u < LB_UW; ++u) /* the loads of LB_UW words first, so they are in flight together */
        if (k + 8u * u < gend) lb_load_words(w, N, (k >> 3) + u, n0, wv + u * LB_NC);
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
          uint word = wv[u * LB_NC + c];
          /* nibble | 0x4B000000 is the float 2^23 + q: one OR and one subtract give q - zero exactly */
          float4 lo = LB_IN_GROUP(as_float4(((uint4)(word, word >> 16, word >> 4, word >> 20) & 0xFu) | 0x4B000000u) - zb[c], in_lo);
          float4 hi = LB_IN_GROUP(as_float4(((uint4)(word >> 8, word >> 24, word >> 12, word >> 28) & 0xFu) | 0x4B000000u) - zb[c], in_hi);
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
#if LB_XS
  for (uint kc = k0; kc < k1; kc += LB_KC) {
    uint kn = min((uint)LB_KC, k1 - kc);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint i = lid; i < LB_MT * LB_KC; i += LB_WG) {
      uint m = i / LB_KC, kk = i % LB_KC;
      smem[i] = (m < M && kk < kn) ? vload_half(m * K + kc + kk, x) : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (n0 < N) lb_accumulate(x, smem, w, scales, zeros, M, N, K, group, flags, kc, kc + kn, kc, n0, accn);
  }
#else
  { /* this partition's run of whole word rows of the slice */
    uint words = (k1 - k0 + 7u) >> 3, run = (words + LB_KP - 1u) / LB_KP;
    uint r0 = min(k1, k0 + kp * run * 8u), r1 = min(k1, r0 + run * 8u);
    if (n0 < N) lb_accumulate(x, smem, w, scales, zeros, M, N, K, group, flags, r0, r1, 0u, n0, accn);
  }
#endif
#if LB_KP > 1
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
  for (uint c = 0; kp == 0u && c < LB_NC && n0 + c < N; ++c) { /* the outputs' owners (partition 0) finish */
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
#define XL ((LB_BM * LB_BK + LB_WG - 1) / LB_WG)
#define WL ((LB_BN * LB_BK + LB_WG - 1) / LB_WG)
#define QL ((LB_BN * LB_BK / 8 + LB_WG - 1) / LB_WG)

__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1)))
void lb_gemm_tiled(__global const half* x, __global const uint* w, __global const half* scales,
                   __global const uchar* zeros, __global const half* bias, __global float* y32,
                   __global half* y16, uint M, uint N, uint K, uint group, uint k_split, uint splits,
                   uint flags) {
  __local float As[2 * LB_BK * LB_BM];
  __local float Bs[2 * LB_BK * LB_BN];
  uint lid = get_local_id(0);
  uint tx = lid % (LB_BN / LB_TN), ty = lid / (LB_BN / LB_TN);
  uint m0 = get_group_id(1) * LB_BM, n0 = get_group_id(0) * LB_BN;
  float rx[XL];
#if LB_W4
  uint rq[QL];
  float rs[QL], rz[QL];
  uint kwords = (K + 7u) >> 3, groups = K / group;
#else
  float rw[WL];
  __global const half* wh = (__global const half*)w;
#endif
  float acc[LB_TM * LB_TN];
  for (uint i = 0; i < LB_TM * LB_TN; ++i) acc[i] = 0.0f;
  uint steps = (K + LB_BK - 1u) / LB_BK;

  /* next tile: global -> registers */
#define LOAD_GLOBAL(k0)                                                                       \
  for (uint i = 0; i < XL; ++i) {                                                             \
    uint e = lid + i * LB_WG, r = e / LB_BK, kk = e % LB_BK;                                  \
    rx[i] = (e < LB_BM * LB_BK && m0 + r < M && (k0) + kk < K) ? vload_half((m0 + r) * K + (k0) + kk, x) : 0.0f; \
  }                                                                                           \
  LOAD_GLOBAL_W(k0)
#if LB_W4
#define LOAD_GLOBAL_W(k0)                                                                     \
  for (uint i = 0; i < QL; ++i) {                                                             \
    uint e = lid + i * LB_WG, c = e % LB_BN, kw = e / LB_BN;                                  \
    uint n = n0 + c, krow = (k0) + kw * 8u;                                                   \
    bool ok = e < LB_BN * LB_BK / 8 && n < N && (krow >> 3) < kwords;                         \
    uint g = min(krow / group, groups - 1u);                                                  \
    rq[i] = ok ? w[(krow >> 3) * N + n] : 0u;                                                 \
    rs[i] = ok ? vload_half(g * N + n, scales) : 0.0f;                                        \
    rz[i] = (ok && (flags & FLAG_ZEROS)) ? (float)zeros[g * N + n] : 8.0f;                    \
  }
#else
#define LOAD_GLOBAL_W(k0)                                                                     \
  for (uint i = 0; i < WL; ++i) {                                                             \
    uint e = lid + i * LB_WG, c = e / LB_BK, kk = e % LB_BK;                                  \
    rw[i] = (e < LB_BN * LB_BK && n0 + c < N && (k0) + kk < K) ? vload_half((n0 + c) * K + (k0) + kk, wh) : 0.0f; \
  }
#endif
  /* registers -> local buffer `buf` (int4 dequantized here, off the critical load path) */
#define STORE_X(buf)                                                                          \
  for (uint i = 0; i < XL; ++i) {                                                             \
    uint e = lid + i * LB_WG;                                                                 \
    if (e < LB_BM * LB_BK) As[(buf) * LB_BK * LB_BM + (e % LB_BK) * LB_BM + e / LB_BK] = rx[i]; \
  }
#if LB_W4
#define STORE_W(buf, k0)                                                                      \
  for (uint i = 0; i < QL; ++i) {                                                             \
    uint e = lid + i * LB_WG;                                                                 \
    if (e < LB_BN * LB_BK / 8) {                                                              \
      uint c = e % LB_BN, kw = e / LB_BN;                                                     \
      float wv[8];                                                                            \
      if (LB_ANY_GROUP && n0 + c < N && (k0) + kw * 8u < K) /* word may straddle groups */ \
        lb_dequant8_rows(rq[i], (k0) + kw * 8u, n0 + c, N, K, group, flags, scales, zeros, wv); \
      else                                                                                    \
        lb_dequant8(rq[i], rz[i], rs[i], wv);                                                 \
      for (uint j = 0; j < 8u; ++j) Bs[(buf) * LB_BK * LB_BN + (kw * 8u + j) * LB_BN + c] = wv[j]; \
    }                                                                                         \
  }
#else
#define STORE_W(buf, k0)                                                                      \
  for (uint i = 0; i < WL; ++i) {                                                             \
    uint e = lid + i * LB_WG;                                                                 \
    if (e < LB_BN * LB_BK) Bs[(buf) * LB_BK * LB_BN + (e % LB_BK) * LB_BN + e / LB_BK] = rw[i]; \
  }
#endif

  LOAD_GLOBAL(0u)
  STORE_X(0u)
  STORE_W(0u, 0u)
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint t = 0; t < steps; ++t) {
    uint buf = t & 1u;
    bool more = t + 1u < steps;
    if (more) {
      LOAD_GLOBAL((t + 1u) * LB_BK)
    }
    for (uint kk = 0; kk < LB_BK; ++kk) {
      float a[LB_TM], b[LB_TN];
      for (uint i = 0; i < LB_TM; ++i) a[i] = As[buf * LB_BK * LB_BM + kk * LB_BM + ty * LB_TM + i];
      for (uint j = 0; j < LB_TN; ++j) b[j] = Bs[buf * LB_BK * LB_BN + kk * LB_BN + tx * LB_TN + j];
      for (uint i = 0; i < LB_TM; ++i)
        for (uint j = 0; j < LB_TN; ++j) acc[i * LB_TN + j] += a[i] * b[j];
    }
    if (more) {
      STORE_X(buf ^ 1u)
      STORE_W(buf ^ 1u, (t + 1u) * LB_BK)
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (uint i = 0; i < LB_TM; ++i)
    for (uint j = 0; j < LB_TN; ++j) {
      uint m = m0 + ty * LB_TM + i, n = n0 + tx * LB_TN + j;
      if (m < M && n < N) lb_store_y(y32, y16, flags, m * N + n, acc[i * LB_TN + j] + lb_bias(bias, flags, n));
    }
}
#endif /* LB_BM */

/* split-K second pass: y = sum of partials [splits, M, N] + bias */
__kernel void lb_gemm_reduce(__global const float* part, __global const half* bias, __global float* y32,
                             __global half* y16, uint M, uint N, uint splits, uint flags) {
  uint i = get_global_id(0);
  if (i >= M * N) return;
  float acc = 0.0f;
  for (uint s = 0; s < splits; ++s) acc += part[s * M * N + i];
  lb_store_y(y32, y16, flags, i, acc + lb_bias(bias, flags, i % N));
}

/* act_order: out[m, j] = x[m, perm[j]] (fp16 bits) */
__kernel void lb_gather(__global const ushort* x, __global const int* perm, __global ushort* out, uint M, uint K) {
  uint i = get_global_id(0);
  if (i >= M * K) return;
  uint m = i / K, j = i % K;
  out[i] = x[m * K + (uint)perm[j]];
}
