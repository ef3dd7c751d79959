// gemm_plan.hpp — launch planning the GPU backends share for the GEMM family: a device profile (what
// a backend knows of its device), the GEMV launch plan (columns per invocation, K partitions per
// workgroup, split-K) and the tiled paths' split-K, all pure functions of profile and shape so that
// they are unit-tested with the published figures of real GPUs (tests/test_gemm_plan.cpp). A
// KernelConfig (lowbit/tuning.hpp: the autotuner's measured choice, or an override) replaces a heuristic
// knob by knob; a knob left 0 keeps the heuristic.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backend/tiled_config.hpp"
#include "lowbit/tuning.hpp"

namespace lowbit::detail {

// What the planner knows of a device.
struct DeviceProfile {
  bool cpu = false;              // a CPU driver (lavapipe, PoCL): few fat cores, large caches
  uint32_t compute_units = 0;    // SMs / CUs / Xe cores / shader processors; 0 = unknown (assume a big GPU)
  uint32_t max_workgroup = 256;  // invocations
  uint64_t shared_bytes = 32768; // per workgroup
  uint32_t threads = 1;          // CPU: hardware threads
  bool gemv_partitions = false;  // GEMV: K partitions inside workgroups (measured slower on an H100: opt-in)
  uint32_t shuffle_lanes = 0;    // subgroup size where full subgroups may shuffle in compute shaders, else 0
  bool gemv_lanes = false;       // GEMV: the lane-reduced form at every M (tests; GPUs pick it by shape)
  uint32_t whole_row_head_sets = 1;  // attention decode, CPU devices with whole key rows per invocation: default head sets
};

// $LOWBIT_DEVICE_PROFILE=gpu:<compute units>[:kp|:lanes] plans a CPU driver's launches as for a GPU with
// that many compute units, with ":kp" the K-partitioned GEMV and ":lanes" the lane-reduced one (tests run
// the GPU variants of the kernels on lavapipe / PoCL this way); anything else there is ignored.
inline DeviceProfile with_profile_override(DeviceProfile d) {
  const char* env = std::getenv("LOWBIT_DEVICE_PROFILE");
  if (!env) return d;
  std::string v = env;
  if (v.rfind("gpu:", 0) != 0) return d;
  char* end = nullptr;
  unsigned long cu = std::strtoul(v.c_str() + 4, &end, 10);
  bool kp = std::string(end) == ":kp", lanes = std::string(end) == ":lanes";
  if ((*end != 0 && !kp && !lanes) || cu == 0 || cu > 4096) return d;
  d.cpu = false;
  d.compute_units = uint32_t(cu);
  d.gemv_partitions = kp;
  d.gemv_lanes = lanes;
  return d;
}

// GEMV: K rows of X staged in shared memory per step on CPU drivers, and the floor of a K slice there.
inline constexpr uint32_t kGemvChunk = 256;
// int4 GEMV on GPUs: word rows whose loads each invocation issues together before their math (every
// form; KernelConfig::u overrides): the bytes in flight that cover DRAM latency. CPU drivers' staged plan
// takes 1 (their loads are synchronous; registers).
inline constexpr uint32_t kGemvLoadsGpu = 4;
// The most K partitions a GPU GEMV plan puts in one workgroup (bounds the rounding depth of their sum).
inline constexpr uint32_t kGemvMaxPartitions = 128;

// Accumulator rows of the GEMV variant for M rows: the next power of two (1, 2, 4, 8, 16).
inline uint32_t gemv_accumulator_rows(uint64_t m) {
  uint32_t mt = 1;
  while (mt < m) mt *= 2;
  return mt;
}

// int4 GEMV, staged plan: adjacent columns each invocation takes. CPU drivers: one 16- or 32-byte load of
// words per K step; more columns reuse each staged X value more often, fewer keep registers low for larger
// M. GPUs: 4 at M = 1 and 1 above (MT x NC accumulators and partial sums in registers; more invocations in
// flight): `lowbit tune` on an H100 picked cols=4 at M = 1 on all five large layers it tried and cols=1 at
// M = 4 and 16 on most shapes, 2-5x faster than 8 (README, Benchmarks).
inline uint32_t gemv_columns_per_item(bool w4, uint64_t m, uint64_t n, bool gpu = false) {
  if (!w4) return 1;
  if (gpu) return m == 1 && n % 4 == 0 ? 4 : 1;
  if (m <= 4 && n % 8 == 0) return 8;
  return n % 4 == 0 ? 4 : 1;
}

// K slices and slice length (a multiple of `align` rows, itself a multiple of 8) for a GEMV over `k`
// rows: the caller's request, or enough slices that about `target_groups` workgroups run when
// `groups_n` cover the columns, each slice at least `min_slice` rows. Returns the slice length;
// `splits` receives the slice count.
inline uint32_t gemv_k_split(uint64_t k, uint64_t groups_n, int requested, uint64_t target_groups,
                             uint64_t min_slice, uint32_t& splits, uint64_t align = 8) {
  uint64_t s = requested > 0 ? uint64_t(requested)
                             : std::clamp<uint64_t>((target_groups + groups_n - 1) / std::max<uint64_t>(groups_n, 1), 1,
                                                    std::max<uint64_t>(1, k / std::max<uint64_t>(min_slice, 1)));
  uint32_t k_split = uint32_t(((k + s - 1) / s + align - 1) / align * align);
  splits = uint32_t((k + k_split - 1) / k_split);
  return k_split;
}

// How the GEMV kernel (gemm_gemv.comp / lb_gemm_gemv) is launched.
struct GemvPlan {
  uint32_t wg = 128;      // invocations per workgroup
  uint32_t mt = 1;        // accumulator rows
  uint32_t nc = 1;        // int4: adjacent columns per invocation
  uint32_t kp = 1;        // int4: K partitions per workgroup (wg / kp column threads)
  uint32_t kc = kGemvChunk;  // X chunk staged per step (xs), else sizes the partition reduction
  bool xs = true;         // int4: X staged in shared memory (CPU drivers), else read from global memory
  bool lr = false;        // int4: the lane-reduced form (variant 3)
  uint32_t sg = 0;        // lr: subgroup lanes the partition sums are shuffled over first (0: shared-memory tree only)
  uint32_t rb = 1;        // int4, kp > 1 or lr: accumulator rows whose partition sums are added per pass
  uint32_t u = 1;         // int4: word rows whose loads are issued together (GPUs: kGemvLoadsGpu; CPU drivers keep registers)
  uint32_t cols = 4;      // fp16 weights: columns per workgroup
  uint32_t k_split = 0, splits = 1;
  uint64_t groups_n = 0;  // workgroups across N
  uint64_t workgroups() const { return groups_n * splits; }
  uint32_t shared_bytes() const { return mt * kc * 4; }
  uint32_t variant() const { return lr ? 3 : xs ? 1 : 2; }  // KernelConfig::variant of this plan
};

// The geometry both K-partitioned plans share: 16-byte loads (4 columns) where N allows, the loads
// of 4 word rows issued together, WG invocations (256 or the knob, within the device), CT column threads reading
// CT * NC * 4 bytes of a word row: 128 bytes, halved while the columns give fewer than `target`
// workgroups, down to `min_segment` bytes; KP = WG / CT partitions, fewer where K has under two words
// for each. Sets xs, u, nc, wg and kp of `p`; returns CT.
inline uint32_t gemv_partition_geometry(const DeviceProfile& d, uint64_t n, uint64_t k, const KernelConfig& c,
                                        uint64_t target, uint32_t min_segment, GemvPlan& p) {
  p.xs = false, p.u = c.u ? uint32_t(c.u) : kGemvLoadsGpu;
  p.nc = n % 4 == 0 && c.cols != 1 ? 4 : 1;
  p.wg = std::min<uint32_t>(c.wg ? uint32_t(c.wg) : 256, std::max<uint32_t>(d.max_workgroup, 32));
  const uint32_t ct_max = 128 / (4 * p.nc), ct_min = min_segment / (4 * p.nc);
  uint32_t ct = ct_max;
  while (ct > ct_min && (n + ct * p.nc - 1) / (ct * p.nc) < target) ct /= 2;
  ct = std::min(ct, p.wg);
  const uint64_t words = (k + 7) / 8;
  p.kp = p.wg / ct;
  while (p.kp > 1 && words < 2 * uint64_t(p.kp)) p.kp /= 2;
  return ct;
}

// The lane-reduced plan (variant 3): 16-byte loads (4 columns) where N allows, U = 4 of them issued
// together; CT column threads read CT * NC * 4 bytes of a word row: 128 bytes, halved while the
// columns give fewer than 2 workgroups per compute unit, down to 32 bytes (M <= 4) or 64 (M > 4: each
// column set re-reads X, so X traffic shrinks with wider sets); KP = WG / CT partitions (fewer where K
// has under two words each); split-K only where the columns alone leave compute units idle. The
// partition sums: subgroup shuffles where the device has them with full subgroups (sg lanes), then
// a shared-memory tree over the `slots` left per output, RB accumulator rows per pass in at most 16 KB.
inline GemvPlan plan_gemv_lanes(const DeviceProfile& d, uint64_t m, uint64_t n, uint64_t k, int requested,
                                const KernelConfig& c) {
  GemvPlan p;
  p.mt = gemv_accumulator_rows(m);
  p.lr = true;
  const uint64_t target = 2 * uint64_t(d.compute_units ? d.compute_units : 128);
  const uint32_t ct = gemv_partition_geometry(d, n, k, c, target, p.mt > 4 ? 64 : 32, p);
  p.wg = ct * p.kp;
  p.groups_n = (n + ct * p.nc - 1) / (ct * p.nc);
  p.k_split = gemv_k_split(k, p.groups_n, requested, target, 16 * uint64_t(p.kp), p.splits);
  p.sg = d.shuffle_lanes > ct && p.wg % d.shuffle_lanes == 0 ? d.shuffle_lanes : 0;
  const uint32_t slots = p.kp / (p.sg ? std::min(p.sg / ct, p.mt * p.nc) : 1), stride = slots > 1 ? slots + 1 : 1;
  p.rb = p.mt;
  while (p.rb > 1 && p.rb * p.nc * ct * stride > 4096) p.rb /= 2;
  p.kc = (p.rb * p.nc * ct * stride + p.mt - 1) / p.mt;
  p.kc = std::max<uint32_t>(4, (p.kc + 3) / 4 * 4);
  return p;
}

// The GEMV plan for M x N x K on a device. The staged plan (CPU drivers, and GPUs by default): 128
// invocations of NC columns each, X staged in KC-row chunks, split-K to about 4 workgroups per thread
// (CPU) or 2 per compute unit (GPU), slices of at least KC rows. On an NVIDIA H100 it beat the
// partitioned plan below at 3 of 4 shapes (M=16 4096x4096: 0.039 against 0.212 ms; M=1 4096x14336:
// 0.136 against 0.226 ms; M=1 14336x4096: 0.105 against 0.132 ms; M=1 4096x4096: 0.024 against
// 0.017 ms), so that one is opt-in (DeviceProfile::gemv_partitions) until the autotuner picks per shape.
// The partitioned plan: 16-byte loads (4 columns) where N
// allows, CT column threads reading CT * 16 bytes of a word row (>= one 32-byte sector), KP = WG / CT
// K partitions per workgroup, CT as large as still gives 2 workgroups per compute unit, then split-K
// for the rest (each partition keeps >= 2 words per slice). `requested` > 0 forces the slice count.
// Config knobs (the search space in autotune/search_space.cpp keeps them valid): variant (1 staged, 2
// K-partitioned, 3 lane-reduced: plan_gemv_lanes), wg, cols (int4 columns per invocation), split (slices
// when `requested` is 0).
inline GemvPlan plan_gemv(const DeviceProfile& d, bool w4, uint64_t m, uint64_t n, uint64_t k, int requested,
                          const KernelConfig& c = {}) {
  GemvPlan p;
  if (requested <= 0 && c.split > 0) requested = c.split;
  p.mt = gemv_accumulator_rows(m);
  if (!w4) {  // fp16 weights: a workgroup per 4 columns, lanes along K; split-K only on request
    p.groups_n = (n + p.cols - 1) / p.cols;
    p.k_split = gemv_k_split(k, p.groups_n, requested, 0, kGemvChunk, p.splits);
    return p;
  }
  if (c.variant == 3 || (!c.variant && !d.cpu && d.gemv_lanes)) return plan_gemv_lanes(d, m, n, k, requested, c);
  if (!c.variant && !d.cpu && !d.gemv_partitions && m == 1) {
    // GPUs at M = 1: the lane-reduced plan where it needs no split and each partition issues its loads
    // in at most two batches of U words; that is where the partitioned form already won on an H100
    // (1x4096x4096: 0.017 against 0.024 ms staged), and this one only drops its serial reduction.
    GemvPlan l = plan_gemv_lanes(d, m, n, k, requested, c);
    if (l.splits == 1 && (l.k_split / 8 + l.kp - 1) / l.kp <= 2 * l.u) return l;
  }
  const bool partitioned = c.variant ? c.variant == 2 : !d.cpu && d.gemv_partitions;
  if (!partitioned) {  // the staged plan: X chunks in shared memory, split-K across workgroups
    p.nc = c.cols ? uint32_t(c.cols) : gemv_columns_per_item(true, m, n, !d.cpu);
    p.u = c.u ? uint32_t(c.u) : d.cpu ? 1 : kGemvLoadsGpu;
    if (c.wg) p.wg = uint32_t(c.wg), p.kc = std::max(kGemvChunk, p.wg);  // KC >= WG: each invocation stages rows
    p.groups_n = (n + p.wg * p.nc - 1) / (p.wg * p.nc);
    const uint64_t target = d.cpu ? 4 * uint64_t(std::max(1u, d.threads)) : 2 * uint64_t(d.compute_units ? d.compute_units : 128);
    p.k_split = gemv_k_split(k, p.groups_n, requested, target, kGemvChunk, p.splits);
    return p;
  }
  const uint64_t target = 2 * uint64_t(d.compute_units ? d.compute_units : 128);
  const uint32_t ct = gemv_partition_geometry(d, n, k, c, target, 32, p);  // 128-byte .. 32-byte row segments
  if (p.kp < p.nc) p.kp = 1;  // the reduction gives each output of a pass an invocation: CT * NC <= WG
  p.kp = std::min(p.kp, kGemvMaxPartitions);
  p.wg = ct * p.kp;
  p.groups_n = (n + ct * p.nc - 1) / (ct * p.nc);
  p.k_split = gemv_k_split(k, p.groups_n, requested, target, 16 * uint64_t(p.kp), p.splits);
  // the partition sums of RB rows per pass: RB * CT * NC <= WG outputs, RB * WG * NC floats in at most
  // 16 KB of shared memory (MT * KC of them, KC a multiple of 4)
  p.rb = std::max<uint32_t>(1, std::min({p.mt, p.wg / (ct * p.nc), 4096 / (p.wg * p.nc)}));
  p.kc = std::max<uint32_t>(4, (p.rb * p.wg * p.nc + p.mt - 1) / p.mt + 3) / 4 * 4;
  return p;
}

// The tiled path's tile for the device: the GPU or CPU-driver choice of tiled_config, the CPU-driver
// one where the GPU tile would not fit the device's shared memory.
// Config knobs: bm, tile (1 GPU register tile, 2 the CPU-driver one), stages (when `stages` is 0).
inline TiledConfig plan_tiled(const DeviceProfile& d, uint64_t m, uint64_t n, uint64_t k, bool w4, int stages,
                              const KernelConfig& c = {}) {
  if (stages <= 0 && c.stages > 0) stages = c.stages;
  if (c.bm || c.tile) {
    const int s = stages > 0 ? stages : d.cpu ? kTiledStagesCpu : kTiledStagesGpu;
    return tiled_tile(c.bm ? uint32_t(c.bm) : tiled_config(m, n, k, w4, d.cpu, s).bm, c.tile ? c.tile == 2 : d.cpu && s == 1, s);
  }
  TiledConfig tc = tiled_config(m, n, k, w4, d.cpu, stages);
  if (tc.shared_bytes() > d.shared_bytes) tc = tiled_config(m, n, k, w4, true, stages);
  return tc;
}

// K slices for the tiled / cooperative-matrix paths: the request, else (GPUs) enough slices that the
// `tiles` output tiles make about 2 workgroups per compute unit, each slice >= 8 units of
// kTiledSliceRows rows. Slices are whole units (tiled_k_split), so every pipeline depth cuts K at the
// same rows. Returns the slice length; `splits` receives the count.
inline uint32_t plan_tiled_split(const DeviceProfile& d, uint64_t tiles, uint64_t k, int requested, uint32_t& splits) {
  uint64_t want = requested > 0 ? uint64_t(requested) : 1;
  const uint64_t target = d.cpu ? 0 : 2 * uint64_t(d.compute_units ? d.compute_units : 128);
  if (requested <= 0 && tiles < target)
    want = std::clamp<uint64_t>((target + tiles - 1) / std::max<uint64_t>(tiles, 1), 1,
                                std::max<uint64_t>(1, k / (8 * uint64_t(kTiledSliceRows))));
  if (want <= 1) {
    splits = 1;
    return uint32_t(k);
  }
  return tiled_k_split(k, int(want), splits);
}

}  // namespace lowbit::detail

namespace lowbit::detail {

// Rounding depth of the int4 GEMV: the most fp32 roundings one term x_k * w_k passes through on its
// way into Y[m, n] for slices of `k_split` rows (`splits` of them) and `kp` K partitions per
// workgroup. With unit roundoff u = 2^-24, |Y - y| <= gamma_d * (sum_k |x_k w_k| + |bias|),
// gamma_d = d u / (1 - d u) (Higham, Thm 3.1 / 4.2). The chain, read off gemm_gemv.comp / gemm.cl /
// gemm_reduce:
//   1  x_k * (q - zero)                    (exact in fact: 11 x 5 bits; counted anyway)
//   3  dot() of four such products          (any order: at most 3 additions above a product)
//   1  dot(lo) + dot(hi) of one word
//   W  part += ... over the words of one group segment (a group cut by the KC chunk or by the end of a
//      partition's run), at most min(group, k_split) rows touching ceil(that / 8) + 1 words
//   1  part * scale
//   A  acc += ... over the segments of one partition's rows: at most ceil(L / KC) + ceil(L / group) + 1
//   P  the kp partition sums: kp / T added one by one, then T such partials (only when kp > 1)
//   S  the reduce pass adds the slice partials one by one (only when splits > 1)
//   1  + bias
// The q - zero values are exact (fp16 or fp32 integers), and w = (q - zero) * scale is exact in fp32,
// so an fp64 sum of x_k * w_k is the exact result this bounds the distance to. The chain grows with
// K / group, not with K: a lost K row (|x_k w_k| ~ sum / K) stands out.
// The lane-reduced form (`lanes`) scales each weight before its product and has one accumulator:
//   1 + 3 + 1  the word's dot products as above;  1  (q - zero) * scale (exact; counted anyway)
//   R  acc += ... over the partition's run of R = ceil(ceil(k_split / 8) / kp) words
//   L  the kp partition sums: log2(kp) pairwise levels (subgroup shuffles, then the shared-memory tree)
//   S, 1  slices and bias as above. The chain grows with K / kp.
inline uint64_t w4_gemv_rounding_depth(uint64_t group, uint64_t k_split, uint64_t splits, uint64_t kp,
                                       bool lanes = false) {
  if (lanes) {  // the lane-reduced chain above
    uint64_t run = ((k_split + 7) / 8 + kp - 1) / std::max<uint64_t>(kp, 1), levels = 0;
    while ((uint64_t(1) << levels) < kp) ++levels;
    return 1 + 3 + 1 + 1 + run + levels + (splits > 1 ? splits : 0) + 1;
  }
  uint64_t seg = std::min<uint64_t>(group, k_split);
  uint64_t words = (seg + 7) / 8 + 1;
  uint64_t segments = (k_split + kGemvChunk - 1) / kGemvChunk + (k_split + group - 1) / group + 1;
  return 1 + 3 + 1 + words + 1 + segments + (kp > 1 ? kp + 1 : 0) + (splits > 1 ? splits : 0) + 1;
}

// Any other path (tiled, cooperative matrix, fp16 weights, the CPU reference): a term passes through
// its product, at most K - 1 additions of the K loop (however they are ordered), the scale or the
// split-K sums and the bias: d <= K + splits + 3.
inline uint64_t gemm_rounding_depth_any_order(uint64_t k, uint64_t splits) { return k + splits + 3; }

}  // namespace lowbit::detail
