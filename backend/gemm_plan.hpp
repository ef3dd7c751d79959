// gemm_plan.hpp — launch choices the GPU backends share for the GEMV path: how many accumulator rows
// a variant carries, and how many K slices (split-K) keep the device busy. The autotuner will replace
// these heuristics with measured choices per device and shape.
#pragma once

#include <algorithm>
#include <cstdint>

namespace lowbit::detail {

// GEMV: K rows of X staged in shared memory per step (int4), and the floor of an automatic K slice.
inline constexpr uint32_t kGemvChunk = 256;

// Accumulator rows of the GEMV variant for M rows: the next power of two (1, 2, 4, 8, 16).
inline uint32_t gemv_accumulator_rows(uint64_t m) {
  uint32_t mt = 1;
  while (mt < m) mt *= 2;
  return mt;
}

// int4 GEMV: adjacent columns each invocation takes (one 16- or 32-byte load of words per K step;
// more columns reuse each staged X value more often, fewer keep registers low for larger M).
inline uint32_t gemv_columns_per_item(bool w4, uint64_t m, uint64_t n) {
  if (!w4) return 1;
  if (m <= 4 && n % 8 == 0) return 8;
  return n % 4 == 0 ? 4 : 1;
}

// K slices and slice length (a multiple of 8 rows) for a GEMV over `k` rows: the caller's request, or
// enough slices that about `target_groups` workgroups run when `groups_n` cover the columns, each
// slice at least `min_slice` rows. Returns the slice length; `splits` receives the slice count.
inline uint32_t gemv_k_split(uint64_t k, uint64_t groups_n, int requested, uint64_t target_groups,
                             uint64_t min_slice, uint32_t& splits) {
  uint64_t s = requested > 0 ? uint64_t(requested)
                             : std::clamp<uint64_t>((target_groups + groups_n - 1) / std::max<uint64_t>(groups_n, 1), 1,
                                                    std::max<uint64_t>(1, k / min_slice));
  uint32_t k_split = uint32_t(((k + s - 1) / s + 7) / 8 * 8);
  splits = uint32_t((k + k_split - 1) / k_split);
  return k_split;
}

}  // namespace lowbit::detail

namespace lowbit::detail {

// Rounding depth of the int4 GEMV: the most fp32 roundings one term x_k * w_k passes through on its
// way into Y[m, n] for slices of `k_split` rows (`splits` of them). With unit roundoff u = 2^-24,
// |Y - y| <= gamma_d * (sum_k |x_k w_k| + |bias|), gamma_d = d u / (1 - d u) (Higham, Thm 3.1 / 4.2).
// The chain, read off gemm_gemv.comp / gemm.cl / gemm_reduce:
//   1  x_k * (q - zero)                    (exact in fact: 11 x 5 bits; counted anyway)
//   3  dot() of four such products          (any order: at most 3 additions above a product)
//   1  dot(lo) + dot(hi) of one word
//   W  part += ... over the words of one group segment (a group cut by the KC chunk), a segment of
//      min(group, KC) rows touching at most ceil(min(group, KC) / 8) + 1 words
//   1  part * scale
//   A  acc += ... over the segments of one slice: at most ceil(L / KC) + ceil(L / group) + 1
//   S  the reduce pass adds the slice partials one by one (only when splits > 1)
//   1  + bias
// The q - zero values are exact (fp16 or fp32 integers), and w = (q - zero) * scale is exact in fp32,
// so an fp64 sum of x_k * w_k is the exact result this bounds the distance to. Without split-K the
// chain grows with K / group, not with K: a lost K row (|x_k w_k| ~ sum / K) stands out.
inline uint64_t w4_gemv_rounding_depth(uint64_t /*k: the chain does not grow with it*/, uint64_t group, uint64_t k_split, uint64_t splits) {
  uint64_t seg = std::min<uint64_t>(group, kGemvChunk);
  uint64_t words = (seg + 7) / 8 + 1;
  uint64_t segments = (k_split + kGemvChunk - 1) / kGemvChunk + (k_split + group - 1) / group + 1;
  return 1 + 3 + 1 + words + 1 + segments + (splits > 1 ? splits : 0) + 1;
}

// Any other path (tiled, cooperative matrix, fp16 weights, the CPU reference): a term passes through
// its product, at most K - 1 additions of the K loop (however they are ordered), the scale or the
// split-K sums and the bias: d <= K + splits + 3.
inline uint64_t gemm_rounding_depth_any_order(uint64_t k, uint64_t splits) { return k + splits + 3; }

}  // namespace lowbit::detail
