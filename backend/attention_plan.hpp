// attention_plan.hpp — launch planning shared by the Vulkan and OpenCL attention kernels
// (shaders/glsl/attention.comp, shaders/opencl/attention.cl): supported head dims, words per cache
// row, decode lane groups / query-head chunks / split-K, prefill tile sizes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/device.hpp"

namespace lowbit::detail::attn {

inline constexpr uint32_t kWorkgroup = 128;   // decode invocations per workgroup
inline constexpr uint32_t kMergeWorkgroup = 64;
inline constexpr uint32_t kPrefillWorkgroup = 64;  // prefill (64: 8 logits per invocation at 32 x 16 tiles; faster than 128 on lavapipe)
// GPUs: the scalar prefill's default tile keeps rows x head dim <= 64 accumulators per invocation (32 rows up
// to head dim 128, 16 at 256): RADV's gfx1100 spilled 105 VGPRs with 32 rows at head dim 256, none with 16.
inline constexpr uint64_t kGpuPrefillTileElems = 64 * kPrefillWorkgroup;
inline constexpr uint32_t kMaxHeadsPerGroup = 8;  // decode: query heads sharing one workgroup
// Decode: q (and acc) elements one invocation holds for its query heads (heads per group x elements per lane),
// a register budget: CPU drivers with lanes (lavapipe) 128; GPUs 32 (NVIDIA H100, driver statistics:
// 4 heads x 16 elements of int8 KV ran at the 255-register cap with spills to local memory, 4 x 8 of fp16
// at 232); CPU devices with one lane per key row (PoCL) 1024.
inline constexpr uint32_t kMaxLaneElems = 128;
inline constexpr uint32_t kGpuMaxLaneElems = 32;
inline constexpr uint32_t kCpuMaxLaneElems = 1024;
// Vulkan CPU drivers with whole rows per invocation (lavapipe): one query head per invocation (measured:
// 2 heads of head dim 64 run 1.5-2.3x slower than 1, 4 heads of 128 5x slower), and 2 head sets
// (KernelConfig::spread): the workgroup's 8 invocations serve 2 query heads, 4 each, so that one SIMD gather
// of a K/V row feeds both (measured, one thread, Hq 32 / Hkv 8, D 128: 4k int4 11.8 -> 9.3 ms, fp16 26.3 ->
// 22.6, int8 15.7 -> 13.7; 1k int4 3.3 -> 2.8; 4 sets were slower than 2: 2 lane groups per set).
inline constexpr uint32_t kCpuWholeRowLaneElems = 1;
inline constexpr uint32_t kCpuWholeRowHeadSets = 2;
// GPUs (lanes per row summed by shuffles or in shared memory): 4 head sets, so a lane group holds one query
// head's q slice and accumulators at Llama-3-8B's GQA 4 (two at GQA 8) instead of 4. Register budget, from the
// compilers (tools/kernel_stats.cpp; RADV's gfx1100 = RX 7900 XTX, Hq 32 / Hkv 8, D 128, the planner's launch):
// 1 set spills 124-360 VGPRs to scratch in every KV format at the 132-VGPR ceiling it runs at; 4 sets none
// (fp16 / int8 / int4 / e4m3: 120 / 96 / 84 / 96 VGPRs, 12-18 waves per SIMD instead of 10); the H100's
// last statistics of 1 set were the 255-register cap with local-memory spills for int8 / int4 / e4m3. The sets
// read the same keys at the same step, so the lane groups of one subgroup load each K/V row together.
inline constexpr uint32_t kGpuHeadSets = 4;
// GPUs: the default keys per step (4, 2 or 1) keep a lane's registers of one step at most 48 words, counted
// as the step's K and V codes (keys x the lane's slice of a row x the code's bits, twice: K and V) plus its q
// slices and accumulators (2 x slice x heads). That count matches what RADV compiled for gfx1100 at Hq 32 /
// Hkv 8 with 4 head sets: 48 or fewer never spilled, 64 did (head dim 256: int8 / e4m3 with 4 keys spilled 103
// / 19 VGPRs, fp16 with 2 keys 2; with 2 / 2 / 1 none; the same at 80 / 96, whose 8 lanes per row hold 16
// elements each: int8 with 4 keys 133, fp16 with 2 keys 2); head dims 64 / 128 keep 4 keys in every format.
inline constexpr uint32_t kGpuMaxStepWords = 48;

// Decode's head sets when KernelConfig::spread leaves them to the planner: kGpuHeadSets on GPUs; on CPU
// devices an invocation holding whole key rows (lane cap 1) takes its API's `whole_row_sets`
// (DeviceProfile::whole_row_head_sets: lavapipe kCpuWholeRowHeadSets, PoCL 1), any other lane layout 1.
// The backends' planners and the tuner's launch key (autotune/search_space.cpp) both call this.
inline uint32_t default_head_sets(bool cpu, uint32_t lane_cap, uint32_t whole_row_sets) {
  return !cpu ? kGpuHeadSets : lane_cap == 1 ? whole_row_sets : 1u;
}

// Decode workgroup on CPU devices with whole rows per invocation (lavapipe, PoCL): one SIMD vector of
// invocations, the device's subgroup size (8 on a 256-bit CPU; 8 where it reports none). Measured
// (one thread, Hq 32 / Hkv 8, D 128): 8 against 32 / 128 invocations — lavapipe 1k fp16 8.7 -> 6.5 ms,
// int4 5.4 -> 3.2, 8k int8 34 -> 28; PoCL (128 before) 1k fp16 5.9 -> 1.7, 8k int4 15.0 -> 7.5.
inline uint32_t cpu_decode_workgroup(uint32_t subgroup) { return subgroup >= 4 && subgroup <= 64 ? subgroup : 8; }

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

// kv_append launch (shaders/glsl/kv_append.comp, shaders/opencl/kv_append.cl): lanes per (tensor,
// token, kv head) row and rows per workgroup, one of two sizes (few
// pipeline variants: each is compiled on first use): 256 invocations when that still leaves
// `target_groups` workgroups (prefills, large batches), else 64 (a decode step of one sequence is one
// or a few workgroups); at least min_workgroup invocations (Vulkan's shuffles: whole subgroups only).
struct KvAppendPlan {
  uint32_t lanes_per_row = 1;
  uint32_t rows_per_group = 1;
  uint64_t groups = 1;
  uint32_t workgroup() const { return lanes_per_row * rows_per_group; }
};
// Each lane owns 16-element chunks; lanes per row = the chunk count rounded up to a power of two, at
// most lane_cap (the subgroup size where rows are reduced by shuffles).
// `tuned_rows` > 0 (KernelConfig::rows) replaces the rows per workgroup.
inline KvAppendPlan plan_kv_append(uint32_t head_dim, uint64_t rows, uint32_t lane_cap, uint64_t target_groups,
                                   uint32_t min_workgroup = 1, int tuned_rows = 0) {
  KvAppendPlan p;
  while (p.lanes_per_row < head_dim / 16 && p.lanes_per_row * 2 <= std::max(1u, lane_cap)) p.lanes_per_row *= 2;
  const uint64_t large = std::max<uint32_t>(1, 256 / p.lanes_per_row);
  const uint32_t small_items = std::max<uint32_t>(64, min_workgroup);
  p.rows_per_group = rows >= large * std::max<uint64_t>(1, target_groups)
                         ? uint32_t(large)
                         : std::max<uint32_t>(1, (small_items + p.lanes_per_row - 1) / p.lanes_per_row);
  if (tuned_rows > 0) p.rows_per_group = uint32_t(tuned_rows);
  p.groups = (rows + p.rows_per_group - 1) / p.rows_per_group;
  return p;
}
// The most lanes a row of head_dim elements takes (16-element chunks, a power of two; the autotuner's
// workgroup bound for a rows-per-group candidate).
inline uint32_t kv_append_max_lanes(uint32_t head_dim) {
  uint32_t l = 1;
  while (l < head_dim / 16) l *= 2;
  return l;
}

// Decode chunks: the elements of a cache row a lane loads at once — fp16 8 (16 bytes); int8 / fp8 16
// (16 bytes) or 8 (8 bytes); int4 16 (8 bytes) or 8 (4 bytes). The 16-element chunk loads twice the
// bytes per instruction; the 8-element one halves a lane's q and acc slices (KernelConfig::elems picks).
inline bool decode_chunk_ok(int format, uint32_t elems) { return elems == 8 || (elems == 16 && format != 0); }

struct DecodePlan {
  uint32_t chunk_elems = 8;      // CE: elements per chunk (decode_chunk_ok)
  uint32_t lanes_per_row = 8;    // LPR: invocations sharing one key row, a power of two
  uint32_t keys_per_step = 4;    // KPS: keys a lane group handles per step (divides the page size)
  uint32_t heads_per_group = 1;  // GC (KernelConfig::rows lowers it)
  uint32_t chunks = 1;           // workgroups along the query heads of one kv head
  uint32_t split_keys = 0;       // keys per split (multiple of the page size)
  uint32_t splits = 1;
  uint32_t workgroup = kWorkgroup;  // invocations per workgroup: workgroup / lanes_per_row lane groups
  uint32_t merge_slice = 0;         // head-dim elements the final cross-group merge sums at once (0: the
                                    // whole head dim; less where groups x head dim floats exceed shared memory)
  uint32_t head_sets = 1;           // HS: lane groups g, g + HS, ... serve heads_per_group query heads of their own
                                    // (a workgroup serves head_sets x heads_per_group; KernelConfig::spread)
};

// Decode's variants (KernelConfig::variant of attention_decode): 1 a step's loads and math in turn, 2 the
// next step's loads in flight during this step's math (double buffering through registers), 3 the
// default's loads with the partial dots summed through shared memory where the backend would use subgroup
// shuffles (Vulkan). Default: the loads of 2 on GPUs, of 1 on CPU devices (synchronous loads: registers spared).
inline bool decode_prefetch(const KernelConfig& c, bool cpu) { return c.variant == 1 ? false : c.variant == 2 ? true : !cpu; }
inline bool decode_shuffles_allowed(const KernelConfig& c) { return c.variant != 3; }

// Shared bytes of attention.comp's decode: the final merge's lane-group slices (groups x merge slice
// floats) and maxima / sums; with lanes per row > 1 whose partial dots are not summed by subgroup shuffles
// (subgroup_sum false), also the partial dots of a step, double buffered.
inline uint64_t decode_shared_bytes(uint32_t d, const DecodePlan& p, bool subgroup_sum) {
  const uint64_t groups = p.workgroup / p.lanes_per_row;
  uint64_t red = groups * (p.merge_slice ? p.merge_slice : d);
  if (!subgroup_sum && p.lanes_per_row > 1)
    red = std::max<uint64_t>(red, 2ull * p.workgroup * p.keys_per_step * p.heads_per_group);
  return 4 * (red + 2 * groups);
}

// target_groups: workgroups that keep the device busy (a few per compute unit). lane_cap: most lanes
// per key row (the subgroup size when partial dots are summed by shuffles; CPU devices 1: whole rows,
// no cross-lane sums). max_lane_elems: most q (and acc) elements per invocation and query head group.
// workgroup: invocations per workgroup; where its lane groups' merge of whole head dims would not fit
// in shared memory, the merge goes over the head dim in slices (halves, quarters, ...). head_sets: the
// head sets where KernelConfig::spread sets none. max_step_words: most register words of one step per lane
// (kGpuMaxStepWords) for the default keys per step; 0 = no limit (the first of 4 and 2 that fits).
// The chunk: a tuned one (KernelConfig::elems) where the format has it; else, of 16 and 8 elements, the
// one that fits more query heads per workgroup in max_lane_elems (K/V read by fewer workgroups), 16 on a tie.
inline DecodePlan plan_decode(const AttentionArgs& a, uint64_t target_groups, uint32_t lane_cap, bool subgroup_sum,
                              uint64_t shared_bytes, uint32_t max_lane_elems = kMaxLaneElems,
                              uint32_t workgroup = kWorkgroup, uint32_t head_sets = 1, uint32_t max_step_words = 0) {
  const uint32_t G = a.q_heads / a.kv.kv_heads, P = a.kv.page_size;
  auto lanes = [&](uint32_t ce) {  // the chunk's lanes per row and query heads per workgroup
    DecodePlan t;
    const uint32_t nch = a.kv.head_dim / ce;
    t.chunk_elems = ce;
    t.lanes_per_row = 1;
    while (t.lanes_per_row * 2 <= std::min(nch, std::max(1u, lane_cap))) t.lanes_per_row *= 2;
    const uint32_t lane_elems = (nch + t.lanes_per_row - 1) / t.lanes_per_row * ce;
    t.heads_per_group = std::max(1u, std::min({G, kMaxHeadsPerGroup, max_lane_elems / lane_elems}));
    return t;
  };
  DecodePlan p;
  if (a.config.elems > 0 && decode_chunk_ok(a.kv.format, uint32_t(a.config.elems))) {
    p = lanes(uint32_t(a.config.elems));
  } else {
    p = lanes(a.kv.format == 0 ? 8 : 16);
    if (a.kv.format != 0) {
      const DecodePlan narrow = lanes(8);
      if (narrow.heads_per_group > p.heads_per_group) p = narrow;
    }
  }
  // head sets (KernelConfig::spread): the workgroup's heads (those of the register budget, at most the GQA
  // group) spread over that many sets of lane groups, each lane holding the q slices and accumulators of
  // its set's share only; at most the lane groups and the heads, a power of two
  const uint32_t spread = a.config.spread > 0 ? uint32_t(a.config.spread) : head_sets;
  if (spread > 1) {
    const uint32_t groups = std::max(1u, workgroup / p.lanes_per_row);
    const uint32_t heads = std::min(G, p.heads_per_group * spread);
    while (p.head_sets * 2 <= std::min({spread, groups, heads})) p.head_sets *= 2;
    p.heads_per_group = (heads + p.head_sets - 1) / p.head_sets;
  }
  // a tuned head count (KernelConfig::rows) only lowers it: fewer accumulators and q slices per invocation
  // (registers) for K/V read once per chunk of heads instead of once per kv head
  if (a.config.rows > 0) p.heads_per_group = std::min(p.heads_per_group, uint32_t(a.config.rows));
  const uint32_t heads_per_workgroup = p.heads_per_group * p.head_sets;
  p.chunks = (G + heads_per_workgroup - 1) / heads_per_workgroup;
  p.workgroup = workgroup;
  p.keys_per_step = 1;
  const uint32_t tuned = a.config.keys > 0 ? uint32_t(a.config.keys) : 0;  // tried first when it fits
  auto slice_to_fit = [&](DecodePlan& t) {  // halve the merge slice until the shared memory fits
    t.merge_slice = a.kv.head_dim;
    while (decode_shared_bytes(a.kv.head_dim, t, subgroup_sum) > shared_bytes && t.merge_slice % 2 == 0 &&
           t.merge_slice > 8)
      t.merge_slice /= 2;
    return decode_shared_bytes(a.kv.head_dim, t, subgroup_sum) <= shared_bytes;
  };
  slice_to_fit(p);
  const uint32_t nch = a.kv.head_dim / p.chunk_elems;
  const uint32_t row_slice = (nch + p.lanes_per_row - 1) / p.lanes_per_row * p.chunk_elems;  // elements per lane
  const uint32_t code_bits = 32 / elems_per_word(a.kv.format);
  auto step_words = [&](uint32_t k) { return k * row_slice * code_bits / 16 + 2 * row_slice * p.heads_per_group; };
  for (uint32_t k : {tuned, 4u, 2u, max_step_words ? 1u : 0u}) {
    if (k == 0 || (k != tuned && k > 1 && max_step_words && step_words(k) > max_step_words)) continue;
    DecodePlan t = p;
    t.keys_per_step = k;
    if (P % k == 0 && slice_to_fit(t)) {
      p = t;
      break;
    }
  }
  if (decode_shared_bytes(a.kv.head_dim, p, subgroup_sum) > shared_bytes)
    throw Error(ErrorCode::Unsupported, "attention: decode with head dim " + std::to_string(a.kv.head_dim) +
                                            " needs more than the device's " + std::to_string(shared_bytes) +
                                            " bytes of shared memory");
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

// Prefill tile: rows ((query, query head) pairs of one kv head) x keys per workgroup, the first of
// 32 x 32, 32 x 16, 16 x 32, 16 x 16, 16 x 8 whose shared tiles fit in `shared_bytes`; a tuned tile
// (KernelConfig rows = BQ, keys = BK; either may be 0: the heuristic's) where it can run, within
// `tuned_shared_bytes` (the device's shared memory: a backend may cap its heuristic tiles lower).
// max_tile_elems (GPUs: kGpuPrefillTileElems; 0 = none): most rows x head dim of the heuristic's tile, so that
// the PV accumulators (rows x d / the workgroup's invocations) stay in registers.
struct PrefillTile {
  uint32_t rows = 16, keys = 32;
};
// Shared bytes of the prefill kernels: q and K/V tiles as vec4 rows of an odd vec4 stride, the
// probabilities in rows of keys + 1 floats, running max / sum / rescale per row.
inline uint64_t prefill_shared_bytes(uint32_t d, PrefillTile t) {
  const uint64_t row_vec4 = (d / 4) | 1;
  return 16 * (uint64_t(t.rows) + t.keys) * row_vec4 + 4ull * (t.rows * (t.keys + 1) + 3 * t.rows);
}
// Why tile `t` cannot run with head dim d ("" when it can): 1..kPrefillWorkgroup rows (one invocation
// per row in the softmax step; the register tiles of QK^T and PV cover any BQ x BK), BK in 1..256 keys,
// and the shared tiles fit.
inline std::string prefill_tile_violation(uint32_t d, PrefillTile t, uint64_t shared_bytes) {
  if (t.rows == 0 || t.rows > kPrefillWorkgroup)
    return "query tile " + std::to_string(t.rows) + " is not in 1.." + std::to_string(kPrefillWorkgroup);
  if (t.keys == 0 || t.keys > 256) return "key tile " + std::to_string(t.keys) + " is not in 1..256";
  if (prefill_shared_bytes(d, t) > shared_bytes)
    return "shared memory " + std::to_string(prefill_shared_bytes(d, t)) + " exceeds the device's " +
           std::to_string(shared_bytes);
  return "";
}
inline PrefillTile prefill_tile(uint32_t d, uint64_t shared_bytes, const KernelConfig& c = {},
                                uint64_t tuned_shared_bytes = 0, uint64_t max_tile_elems = 0) {
  PrefillTile pick{};
  bool found = false;
  for (PrefillTile t : {PrefillTile{32, 32}, PrefillTile{32, 16}, PrefillTile{16, 32}, PrefillTile{16, 16},
                        PrefillTile{16, 8}})
    if (!found && prefill_shared_bytes(d, t) <= shared_bytes && (!max_tile_elems || uint64_t(t.rows) * d <= max_tile_elems))
      pick = t, found = true;
  if (c.rows > 0 || c.keys > 0) {
    const PrefillTile tuned{c.rows > 0 ? uint32_t(c.rows) : pick.rows, c.keys > 0 ? uint32_t(c.keys) : pick.keys};
    if (prefill_tile_violation(d, tuned, std::max(shared_bytes, tuned_shared_bytes)).empty()) return tuned;
  }
  if (!found)
    throw Error(ErrorCode::Unsupported, "attention: head dim " + std::to_string(d) + " needs more than the device's " +
                                            std::to_string(shared_bytes) + " bytes of shared memory");
  return pick;
}

}  // namespace lowbit::detail::attn
