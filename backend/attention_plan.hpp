// attention_plan.hpp — launch planning shared by the Vulkan and OpenCL attention kernels
// (shaders/glsl/attention.comp, shaders/opencl/attention.cl): supported head dims, words per cache
// row, decode query-head chunks and split-K, prefill tile sizes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/device.hpp"

namespace lowbit::detail::attn {

inline constexpr uint32_t kWorkgroup = 128;   // decode / prefill invocations per workgroup
inline constexpr uint32_t kMergeWorkgroup = 64;
inline constexpr uint32_t kMaxHeadsPerGroup = 8;  // decode: query heads sharing one workgroup
inline constexpr uint32_t kLanesPerRow = 8;       // decode: lanes cooperating on one key row
inline constexpr uint32_t kPrefillRows = 16;      // prefill: queries per workgroup

inline void check_head_dim(uint32_t d, const char* backend) {
  if (d == 64 || d == 80 || d == 96 || d == 128 || d == 256) return;
  throw Error(ErrorCode::Unsupported, std::string(backend) + " attention: head dim " + std::to_string(d) +
                                          " is not supported (supported: 64, 80, 96, 128, 256)");
}

// KV formats with a per-row fp16 scale and zero (int8, int4) / a per-tensor or per-head fp32 scale (FP8).
inline bool kv_int_format(int f) { return f == 1 || f == 2; }
inline bool kv_fp8_format(int f) { return f == 3 || f == 4; }

// Elements per 32-bit word of a cache row: fp16 2, int8/fp8 4, int4 8.
inline uint32_t elems_per_word(int format) { return format == 0 ? 2 : format == 2 ? 8 : 4; }

// kv_append: invocations per (token, kv head) row (one per 32-bit cache word; fp16, a copy: one per 16
// bytes) and rows per workgroup (about 64 invocations).
inline uint32_t kv_append_words_per_row(uint32_t head_dim, int format) {
  return format == 0 ? head_dim / 8 : head_dim / elems_per_word(format);
}
inline uint32_t kv_append_rows_per_group(uint32_t words_per_row) { return std::max<uint32_t>(1, 64 / words_per_row); }


struct DecodePlan {
  uint32_t heads_per_group = 1;  // GC
  uint32_t chunks = 1;           // workgroups along the query heads of one kv head
  uint32_t split_keys = 0;       // keys per split (multiple of the page size)
  uint32_t splits = 1;
};

// target_groups: workgroups that keep the device busy (a few per compute unit).
inline DecodePlan plan_decode(const AttentionArgs& a, uint64_t target_groups) {
  DecodePlan p;
  const uint32_t G = a.q_heads / a.kv.kv_heads, P = a.kv.page_size;
  p.heads_per_group = std::min(G, kMaxHeadsPerGroup);
  p.chunks = (G + p.heads_per_group - 1) / p.heads_per_group;
  const uint64_t pages = std::max<uint64_t>(1, (uint64_t(a.max_kv) + P - 1) / P);
  uint64_t split_pages = 0;
  if (a.split_pages > 0) {
    split_pages = uint64_t(a.split_pages);
  } else {
    const uint64_t base = uint64_t(a.batch) * a.kv.kv_heads * p.chunks;
    const uint64_t want = std::max<uint64_t>(1, (target_groups + base - 1) / base);
    const uint64_t min_pages = std::max<uint64_t>(1, (256 + P - 1) / P);  // >= 256 keys per split
    split_pages = std::max(min_pages, (pages + want - 1) / want);
  }
  split_pages = std::min(split_pages, pages);
  p.split_keys = uint32_t(split_pages * P);
  p.splits = uint32_t((pages + split_pages - 1) / split_pages);
  return p;
}

// Prefill keys per tile: the largest of 32 / 16 / 8 whose shared tiles fit in `shared_bytes`.
inline uint32_t prefill_key_tile(uint32_t d, uint64_t shared_bytes) {
  for (uint32_t bk : {32u, 16u, 8u}) {
    uint64_t bytes = 4ull * (kPrefillRows * d + bk * d + kPrefillRows * bk + 3 * kPrefillRows);
    if (bytes <= shared_bytes) return bk;
  }
  throw Error(ErrorCode::Unsupported, "attention: head dim " + std::to_string(d) + " needs more than the device's " +
                                          std::to_string(shared_bytes) + " bytes of shared memory");
}

}  // namespace lowbit::detail::attn
