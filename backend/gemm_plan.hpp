// gemm_plan.hpp — launch choices the GPU backends share for the GEMV path: how many accumulator rows
// a variant carries, and how many K slices (split-K) keep the device busy. The autotuner will replace
// these heuristics with measured choices per device and shape.
#pragma once

#include <algorithm>
#include <cstdint>

namespace lowbit::detail {

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
