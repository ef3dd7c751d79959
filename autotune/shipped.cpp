// shipped.cpp — the table of shipped defaults (see shipped.hpp). Rows are measured, never guessed: a
// device class with no row here (AMD, Intel, Adreno, Mali so far) runs the device-aware launch planner
// (backend/gemm_plan.hpp: compute units, shared memory, workgroup limits) until `lowbit tune` measures it.
#include "autotune/shipped.hpp"

#include <algorithm>
#include <cctype>

namespace lowbit::tune {

namespace {

// clang-format off
const ShippedRow kRows[] = {
    // NVIDIA H100 80GB HBM3, Vulkan, driver 580.159.04 (README, Benchmarks: tools/gpu/gemm_check.sh):
    // M = 1 at 4096 x 4096 the K-partitioned GEMV ran 0.017 ms against 0.024 ms staged ...
    {"vulkan", "h100", "gemv_w4", 1, 1, 4096, 4096, "variant=2", "H100 README table: K-partitioned 0.017 ms vs staged 0.024 ms"},
    // ... but staged won at 16 x 4096 x 4096 (0.039 vs 0.212), 1 x 14336 x 4096 (0.105 vs 0.132) and
    // 1 x 4096 x 14336 (0.136 vs 0.226): the staged plan everywhere else.
    {"vulkan", "h100", "gemv_w4", 1, 16, 0, 0, "variant=1", "H100 README table: staged faster at 16x4096x4096, 1x14336x4096, 1x4096x14336"},
    // Tiled int4 at M = 64 / 256 x 4096 x 4096: serial 0.099 / 0.303 ms against S = 3 0.146 / 0.444 ms.
    {"vulkan", "h100", "tiled_w4", 17, 1 << 30, 0, 0, "stages=1", "H100 README: tiled serial 0.099 ms vs S=3 0.146 ms at M=64"},
    // lavapipe (Mesa 22.3.6, llvmpipe LLVM 15) and PoCL 3.1 on the 2-core AMD EPYC VM of the README,
    // `lowbit tune --op w4a16 --budget 200` (2026-11-27; the VM was shared with other builds, so only
    // wins that held in two tuning runs, or by more than a third, are shipped). Fewer, wider K slices
    // than the planner's ~4 per thread:
    {"vulkan", "llvmpipe", "gemv_w4", 1, 1, 14336, 4096, "variant=1 wg=256 cols=8 split=1", "lowbit tune, lavapipe, two runs: 104.0 vs 139.9 ms, 86.3 vs 108.2 ms"},
    {"vulkan", "llvmpipe", "gemv_w4", 1, 1, 4096, 4096, "variant=1 wg=256 cols=8 split=2", "lowbit tune, lavapipe: 23.0 vs 35.5 ms"},
    {"vulkan", "llvmpipe", "gemv_w4", 1, 1, 4096, 14336, "variant=1 wg=128 cols=8 split=2", "lowbit tune, lavapipe: 70.0 vs 83.8 ms"},
    {"opencl", "pthread", "gemv_w4", 1, 1, 4096, 4096, "variant=1 wg=256 cols=8 split=1", "lowbit tune, PoCL: 12.2 vs 15.9 ms"},
};
// clang-format on

bool contains_ci(const std::string& hay, const char* needle) {
  std::string h = hay, n = needle;
  for (auto* s : {&h, &n}) std::transform(s->begin(), s->end(), s->begin(), [](unsigned char c) { return std::tolower(c); });
  return h.find(n) != std::string::npos;
}

}  // namespace

std::span<const ShippedRow> shipped_rows() { return kRows; }

const ShippedRow* find_shipped(const DeviceInfo& d, const std::string& family, int64_t m, int64_t n, int64_t k) {
  for (const ShippedRow& r : kRows)
    if (r.backend == std::string(to_string(d.backend)) && contains_ci(d.name, r.device) && family == r.family &&
        m >= r.m_min && m <= r.m_max && (r.n == 0 || r.n == n) && (r.k == 0 || r.k == k))
      return &r;
  return nullptr;
}

}  // namespace lowbit::tune
