// deterministic.hpp — the launch choices of deterministic (batch-invariant) mode
// (ContextOptions::deterministic): a row's reduction order then depends only on K (GEMMs) or on the
// context length (decode attention), never on M, the batch, the path heuristic or a tuned split.
//   GEMMs: always the tiled path (fma over K ascending per output, whatever the tile: the GEMV kernels
//   and the matrix units sum in other orders), K cut into slices of kDeterministicSliceRows rows.
//   Decode attention: splits of kDeterministicSplitKeys keys (whole pages), the same for every batch.
// The autotuner asks deterministic_gemm_allowed before it changes a deterministic launch.
#pragma once

#include <cstdint>

#include "lowbit/lowbit.hpp"

namespace lowbit::detail {

inline constexpr uint64_t kDeterministicSliceRows = 1024;  // K rows per split-K slice
inline constexpr uint32_t kDeterministicSplitKeys = 512;   // decode: keys per split

// K slices of a deterministic GEMM: ceil(K / 1024) (1 = no split), from K alone.
inline int deterministic_split_k(uint64_t k) {
  return int((k + kDeterministicSliceRows - 1) / kDeterministicSliceRows);
}

// Whether a GEMM launch keeps a deterministic context's reduction order for K: the tiled path with the
// split deterministic_split_k(k) (tile shape and pipeline depth are free: they do not change the order).
inline bool deterministic_gemm_allowed(GemmPath path, int split_k, uint64_t k) {
  return path == GemmPath::Tiled && split_k == deterministic_split_k(k);
}

// Pages per decode split for pages of `page_size` tokens: at least kDeterministicSplitKeys keys.
inline int deterministic_split_pages(uint32_t page_size) {
  return int((kDeterministicSplitKeys + page_size - 1) / page_size);
}

}  // namespace lowbit::detail
