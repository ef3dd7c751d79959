// tiled_config.hpp — tile shape, workgroup size and K-pipeline depth of the tiled GEMM
// (gemm_tiled.comp / lb_gemm_tiled), as a pure function of the shape and the kind of device, and the
// K slices of an explicit split-K request. Both GPU backends launch what this returns.
#pragma once

#include <algorithm>
#include <cstdint>

namespace lowbit::detail {

struct TiledConfig {
  uint32_t bm, bn, bk;  // output tile rows / columns, K rows per step (multiple of 8)
  uint32_t tm, tn;      // accumulators per invocation: tm rows x tn columns (tn a multiple of 4)
  uint32_t wg;          // invocations per workgroup = (bm / tm) * (bn / tn)
  uint32_t stages;      // K pipeline depth: 1 serial, 2 double buffer, >= 3 loads S-1 steps ahead
  // Shared memory per workgroup: one (S = 1) or two buffers of X [bm][bk + 4] and W [bk][bn] in fp32.
  uint32_t shared_bytes() const { return (stages == 1 ? 1u : 2u) * (bm * (bk + 4) + bk * bn) * 4u; }
};

// Default pipeline depth per kind of device: the serial loop (S = 1) everywhere it was measured. CPU
// drivers (lavapipe, PoCL) have no memory latency to hide, and S = 1 needs one shared buffer only, which
// leaves room for BK 32 (half the barriers) in lavapipe's 32 KiB. On an NVIDIA H100 (Vulkan, driver
// 580.159) S = 1 ran 0.099 ms at M = 64 x 4096 x 4096 (int4) against 0.146 ms for S = 3, and 0.303 against
// 0.444 ms at M = 256: the deeper pipeline's second buffer halves the workgroups per SM, which costs more
// than the latency it hides. S >= 2 stays a GemmOptions::stages choice (and the autotuner's).
inline constexpr int kTiledStagesGpu = 1, kTiledStagesCpu = 1;

// Split-K slices are a multiple of this many K rows: a multiple of every BK tiled_config picks, so
// that every pipeline depth cuts K at the same rows (and sums the same partials).
inline constexpr uint32_t kTiledSliceRows = 32;

// m, n, k: the GEMM shape; w4: int4 weights (else fp16); cpu_device: a CPU driver; stages_requested:
// GemmArgs::stages (0 = the default above, 1 = serial, up to 4).
// The M tile follows M (16, 32 or 64 rows) so that M = 17..32 does not run mostly empty 64-row tiles.
// GPU (H100-class: 128-256 invocations, <= 48 KiB shared): 8 x 4 or 4 x 8 accumulators, BK 16.
// CPU drivers, serial: 8 x 8 invocations of (BM/8) x 16 accumulators, 128 columns, BK 32. lavapipe
// loads shared memory one SIMD lane at a time, so a large register tile (few loads per fma) wins,
// measured on lavapipe and PoCL; 16 x 16 ran about as fast but took lavapipe ~40 s to compile (it
// compiles at the first dispatch), 8 x 16 takes a few seconds. The pipelined
// variants, which unroll the step loop S-1 times, take the GPU tiles (128 columns at BM 16), so that
// they compile in reasonable time. The tile shape does not change the summation order.
// The tile of BM rows: `cpu_tile` the CPU drivers' register tile ((BM/8) x 16 accumulators, 128 columns,
// BK 32), else the GPU one for that BM; S = `stages` (1..4).
inline TiledConfig tiled_tile(uint32_t bm, bool cpu_tile, int stages) {
  TiledConfig c{};
  c.stages = uint32_t(std::clamp(stages, 1, 4));
  c.bm = bm;
  if (cpu_tile) {
    c.bn = 128, c.tm = c.bm / 8, c.tn = 16, c.bk = 32;  // 8 x 8 invocations
  } else if (c.bm == 64) {
    c.bn = 128, c.tm = 8, c.tn = 4, c.bk = 16;  // 8 x 32 = 256 invocations
  } else if (c.bm == 32) {
    c.bn = 128, c.tm = 4, c.tn = 8, c.bk = 16;  // 8 x 16 = 128 invocations
  } else {
    c.bn = 256, c.tm = 4, c.tn = 8, c.bk = 16;  // 4 x 32 invocations
  }
  c.wg = (c.bm / c.tm) * (c.bn / c.tn);
  return c;
}

inline TiledConfig tiled_config(uint64_t m, uint64_t /*n*/, uint64_t /*k*/, bool /*w4*/, bool cpu_device,
                                int stages_requested) {
  int s = stages_requested > 0 ? stages_requested : cpu_device ? kTiledStagesCpu : kTiledStagesGpu;
  s = std::clamp(s, 1, 4);
  const uint32_t bm = m <= 16 ? 16 : m <= 32 ? 32 : 64;
  TiledConfig c = tiled_tile(bm, cpu_device && s == 1, s);
  if (cpu_device && s > 1 && bm == 16) {  // 4 x 16 invocations: 128 columns on CPU drivers
    c.bn = 128;
    c.wg = (c.bm / c.tm) * (c.bn / c.tn);
  }
  return c;
}

// K slices of the tiled path: `requested` slices (GemmArgs::split_k, > 0) of a whole number of
// kTiledSliceRows each; fewer when K is short. Returns the slice length; `splits` receives the count.
inline uint32_t tiled_k_split(uint64_t k, int requested, uint32_t& splits) {
  uint64_t s = uint64_t(std::max(requested, 1));
  uint64_t units = (k + kTiledSliceRows - 1) / kTiledSliceRows;
  uint64_t slice = std::max<uint64_t>(1, (units + s - 1) / s) * kTiledSliceRows;
  splits = uint32_t((k + slice - 1) / slice);
  return uint32_t(slice);
}

}  // namespace lowbit::detail
