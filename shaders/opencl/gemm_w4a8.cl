/* gemm_w4a8.cl — W4A8 GEMM (OpenCL C 1.2): Y[M,N] = (float(acc) * a_scale[m]) * s1[n] (+ bias), acc the exact
 * int32 dot product of int8 activations with QoQ weights w8' = (u - z) * s2 (lowbit/w4a8.hpp layout v1).
 *
 * Same kernels as shaders/glsl/gemm_w4a8.comp (launch plan: backend/w4a8_plan.hpp):
 *   lb_w4a8_gemv    (-DLB_MT) LB_NC adjacent columns per work-item, LB_KC rows of A staged in local memory
 *                   as packed int8 words, K slices across work-group row 1;
 *   lb_w4a8_tiled   (-DLB_BM) LB_BM x LB_BN tiles, LB_BK-row steps, A and the int8 weights as packed words in
 *                   local memory, LB_TM x LB_TN int32 accumulators per work-item, K slices along z;
 *   lb_w4a8_reduce  sums the int32 split-K partials (exact, any order) and applies the epilogue.
 * LB_INT_DOT 1: dot_4x8packed_ss_int (cl_khr_integer_dot_product) where the compiler offers it, else
 * lb_dot4_i8. LB_ANY_GROUP 1: a weight word may straddle level-2 groups. Per-element math is
 * lowbit_formats.h's (prepended), and contraction is off, so the bits match the CPU reference.
 */
#pragma OPENCL FP_CONTRACT OFF

#define LB_FLAG_BIAS 1u
#define LB_FLAG_OUT_F32 4u
#define LB_FLAG_BIAS_F32 8u

#if defined(LB_INT_DOT) && LB_INT_DOT && defined(cl_khr_integer_dot_product)
#pragma OPENCL EXTENSION cl_khr_integer_dot_product : enable
#define LB_DOT4(a, b) dot_4x8packed_ss_int((a), (b))
#else
#define LB_DOT4(a, b) lb_dot4_i8((a), (b))
#endif
#ifndef LB_ANY_GROUP
#define LB_ANY_GROUP 0
#endif

/* The epilogue of Y[m, n]: lb_w4a8_epilogue (scale, then the bias, each rounded to fp32; one NaN bit pattern). */
inline void lb_w4a8_store(__global const float* a_scale, __global const ushort* s1, __global const uchar* bias,
                          __global uchar* y, uint N, uint flags, uint m, uint n, int acc) {
  float b = 0.0f;
  if (flags & LB_FLAG_BIAS)
    b = (flags & LB_FLAG_BIAS_F32) ? ((__global const float*)bias)[n] : vload_half(n, (__global const half*)bias);
  float v = lb_w4a8_epilogue(acc, a_scale[m], s1[n], b);
  if (flags & LB_FLAG_OUT_F32) ((__global float*)y)[m * N + n] = v;
  else ((__global ushort*)y)[m * N + n] = (ushort)lb_f32_to_f16(as_uint(v));
}

/* Activations a[m, k..k+3] as one packed word (rows >= M and K rows >= kend read as 0). */
inline uint lb_a4(__global const uchar* a, uint M, uint K, uint m, uint k, uint kend) {
  if (m >= M || k >= kend) return 0u;
  uint base = m * K + k;
  if ((K & 3u) == 0u && k + 4u <= kend) return ((__global const uint*)a)[base >> 2];
  uint v = 0u;
  for (uint j = 0u; j < 4u; ++j)
    if (k + j < kend) v |= (uint)a[base + j] << (8u * j);
  return v;
}

/* w8' of one weight word as two packed words (rows 0..3, 4..7), all rows in one group (scale sc, zero z). */
inline void lb_w8_pair(uint word, uint sc, uint z, uint* lo, uint* hi) {
  *lo = lb_qoq_w8x4(lb_qoq_codes4(word, 0u), sc, z);
  *hi = lb_qoq_w8x4(lb_qoq_codes4(word, 1u), sc, z);
}

/* w8' of the weight word of rows krow..krow+7 of column n as two packed words (rows 0..3, 4..7). */
inline void lb_w8_word(__global const uchar* s2, __global const uchar* zeros, uint N, uint K, uint group, uint word,
                       uint krow, uint n, uint* lo, uint* hi) {
#if LB_ANY_GROUP
  /* each lane its own row's group (rows past K: the last group; their activations are 0) */
  uint last = K / group - 1u;
  *lo = 0u, *hi = 0u;
  for (uint j = 0u; j < 4u; ++j) {
    uint g0 = min((krow + j) / group, last) * N + n, g1 = min((krow + 4u + j) / group, last) * N + n;
    uint lane = 0xFFu << (8u * j);
    *lo |= lb_qoq_w8x4(lb_qoq_codes4(word, 0u), s2[g0], zeros[g0]) & lane;
    *hi |= lb_qoq_w8x4(lb_qoq_codes4(word, 1u), s2[g1], zeros[g1]) & lane;
  }
#else
  uint g = min(krow / group, K / group - 1u) * N + n;
  lb_w8_pair(word, s2[g], zeros[g], lo, hi);
#endif
}

#define LB_W4A8_ARGS                                                                                              \
  __global const uchar *a, __global const uint *w, __global const uchar *s2, __global const uchar *zeros,        \
      __global const float *a_scale, __global const ushort *s1, __global const uchar *bias, __global uchar *y,   \
      __global int *part, uint M, uint N, uint K, uint group, uint k_split, uint splits, uint flags

/* A finished accumulator: the split-K partials or the epilogue. */
#define LB_W4A8_FINISH(m, n, split, acc)                                              \
  do {                                                                                \
    if (splits > 1u) part[((split) * M + (m)) * N + (n)] = (acc);                     \
    else lb_w4a8_store(a_scale, s1, bias, y, N, flags, (m), (n), (acc));              \
  } while (0)

#ifdef LB_MT
#ifndef LB_NC
#define LB_NC 1
#endif
#ifndef LB_KC
#define LB_KC 256
#endif
__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1))) void lb_w4a8_gemv(LB_W4A8_ARGS) {
  __local uint xa[LB_MT * LB_KC / 4];
  uint lid = get_local_id(0);
  uint n0 = (get_group_id(0) * LB_WG + lid) * LB_NC;
  uint split = get_group_id(1);
  uint k0 = split * k_split, k1 = min(K, k0 + k_split);
  int acc[LB_MT * LB_NC];
  for (uint i = 0u; i < LB_MT * LB_NC; ++i) acc[i] = 0;
  uint gcur = 0xFFFFFFFFu, sc[LB_NC], zz[LB_NC];  /* the current group's scales and zeros */
  for (uint kc = k0; kc < k1; kc += LB_KC) {
    uint kn = min((uint)LB_KC, k1 - kc);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint i = lid; i < LB_MT * LB_KC / 4u; i += LB_WG)
      xa[i] = lb_a4(a, M, K, i / (LB_KC / 4u), kc + (i % (LB_KC / 4u)) * 4u, k1);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (n0 >= N) continue;
    for (uint kk = 0u; kk < kn; kk += 8u) {
      uint krow = kc + kk, row = (krow >> 3) * N + n0;
      uint words[LB_NC];
#if LB_NC == 1
      words[0] = w[row];
#else
      for (uint v = 0u; v < LB_NC / 4u; ++v) vstore4(vload4(0, w + row + 4u * v), v, words);
#endif
#if !LB_ANY_GROUP
      if (krow / group != gcur) { /* a new group: its scales and zeros, once */
        gcur = krow / group;
        for (uint c = 0u; c < LB_NC; ++c) sc[c] = s2[gcur * N + n0 + c], zz[c] = zeros[gcur * N + n0 + c];
      }
#endif
      for (uint c = 0u; c < LB_NC; ++c) {
        uint lo, hi;
#if LB_ANY_GROUP
        lb_w8_word(s2, zeros, N, K, group, words[c], krow, n0 + c, &lo, &hi);
#else
        lb_w8_pair(words[c], sc[c], zz[c], &lo, &hi);
#endif
        for (uint m = 0u; m < LB_MT; ++m) {
          uint xi = (m * LB_KC + kk) >> 2;
          acc[m * LB_NC + c] += LB_DOT4(xa[xi], lo) + LB_DOT4(xa[xi + 1u], hi);
        }
      }
    }
  }
  if (n0 >= N) return;
  for (uint c = 0u; c < LB_NC; ++c)
    for (uint m = 0u; m < LB_MT && m < M; ++m) LB_W4A8_FINISH(m, n0 + c, split, acc[m * LB_NC + c]);
}
#endif

#ifdef LB_BM
#define LB_KQ (LB_BK / 4)  /* packed words per A row / rows of packed weight words */
#define LB_QA (LB_KQ + 1)  /* As row stride (odd) */
#define LB_RM (LB_BM / LB_TM)
#define LB_RN (LB_BN / LB_TN)
__kernel __attribute__((reqd_work_group_size(LB_WG, 1, 1))) void lb_w4a8_tiled(LB_W4A8_ARGS) {
  __local uint As[LB_BM * LB_QA];
  __local uint Bs[LB_KQ * LB_BN];
  uint lid = get_local_id(0);
  uint tx = lid % LB_RN, ty = lid / LB_RN;
  uint m0 = get_group_id(1) * LB_BM, n0 = get_group_id(0) * LB_BN;
  uint split = get_group_id(2);
  uint k_begin = split * k_split, k_end = min(K, k_begin + k_split);
  int acc[LB_TM][LB_TN];
  for (uint i = 0u; i < LB_TM; ++i)
    for (uint j = 0u; j < LB_TN; ++j) acc[i][j] = 0;
  for (uint k0 = k_begin; k0 < k_end; k0 += LB_BK) {
    for (uint e = lid; e < LB_BM * LB_KQ; e += LB_WG)
      As[(e / LB_KQ) * LB_QA + e % LB_KQ] = lb_a4(a, M, K, m0 + e / LB_KQ, k0 + (e % LB_KQ) * 4u, k_end);
    for (uint e = lid; e < (LB_BK / 8u) * LB_BN; e += LB_WG) {
      uint c = e % LB_BN, kw = e / LB_BN, n = n0 + c, krow = k0 + kw * 8u;
      uint lo = 0u, hi = 0u;
      if (n < N && krow < k_end) lb_w8_word(s2, zeros, N, K, group, w[(krow >> 3) * N + n], krow, n, &lo, &hi);
      Bs[(2u * kw) * LB_BN + c] = lo;
      Bs[(2u * kw + 1u) * LB_BN + c] = hi;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint q = 0u; q < LB_KQ; ++q) {
      uint av[LB_TM], bv[LB_TN];
      for (uint i = 0u; i < LB_TM; ++i) av[i] = As[(ty + i * LB_RM) * LB_QA + q];
      for (uint j = 0u; j < LB_TN; ++j) bv[j] = Bs[q * LB_BN + tx + j * LB_RN];
      for (uint i = 0u; i < LB_TM; ++i)
        for (uint j = 0u; j < LB_TN; ++j) acc[i][j] += LB_DOT4(av[i], bv[j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (uint i = 0u; i < LB_TM; ++i)
    for (uint j = 0u; j < LB_TN; ++j) {
      uint m = m0 + ty + i * LB_RM, n = n0 + tx + j * LB_RN;
      if (m < M && n < N) LB_W4A8_FINISH(m, n, split, acc[i][j]);
    }
}
#endif

__kernel void lb_w4a8_reduce(__global const int* part, __global const float* a_scale, __global const ushort* s1,
                             __global const uchar* bias, __global uchar* y, uint M, uint N, uint splits, uint flags) {
  uint i = get_global_id(0);
  if (i >= M * N) return;
  uint mn = M * N, s = 0u;
  int acc = 0;
  for (; s + 8u <= splits; s += 8u) { /* 8 slices' loads in flight (one memory wait per group on a GPU) */
    int v[8];
    for (uint j = 0u; j < 8u; ++j) v[j] = part[(s + j) * mn + i];
    for (uint j = 0u; j < 8u; ++j) acc += v[j];
  }
  for (; s < splits; ++s) acc += part[s * mn + i];
  lb_w4a8_store(a_scale, s1, bias, y, N, flags, i / N, i % N, acc);
}
