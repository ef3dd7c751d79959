// w4a8_plan.hpp — how the GPU backends launch gemm_w4a8 (gemm_w4a8.comp / gemm_w4a8.cl): the GEMV
// geometry of the int4 staged GEMV (plan_gemv), the tiled path's output tile (tiled_config) with K steps of
// kW4A8TiledBk rows, split-K as for W4A16, and whether integer dot-product instructions are used. Pure
// functions of (device profile, shape), so both backends launch the same thing.
#pragma once

#include <cstdint>
#include <cstdlib>

#include "backend/gemm_plan.hpp"
#include "backend/tiled_config.hpp"

namespace lowbit::detail {

// K rows per step of the tiled W4A8 kernel: 8 packed int8 words of A per tile row, a divisor of
// kTiledSliceRows so that a split-K slice starts on a step.
inline constexpr uint32_t kW4A8TiledBk = 32;
static_assert(kTiledSliceRows % kW4A8TiledBk == 0);

struct W4A8Plan {
  bool gemv = true;
  GemvPlan g;              // GEMV: wg, mt (accumulator rows), nc (columns per invocation), kc (K chunk staged)
  TiledConfig t{};         // tiled: bm, bn, tm, tn, wg (t.bk = kW4A8TiledBk)
  uint32_t k_split = 0, splits = 1;
  uint64_t groups_x = 1, groups_y = 1;  // GEMV: y = K slices; tiled: y = M tiles, z = K slices
  bool any_group = false;  // a weight word may straddle two level-2 groups (group % 8 != 0, several groups)
  uint32_t wg() const { return gemv ? g.wg : t.wg; }
  // Shared memory per workgroup: GEMV MT x KC int8 of A; tiled A [BM][BK/4 + 1] and W [BK/4][BN] packed words.
  uint32_t shared_bytes() const { return gemv ? g.mt * g.kc : (t.bm * (t.bk / 4 + 1) + (t.bk / 4) * t.bn) * 4; }
  uint64_t workgroups() const { return groups_x * groups_y * (gemv ? 1 : splits); }
};

// The plan for M x N x K (level-2 groups of `group` rows) on the GEMV or tiled path; split_k > 0 forces
// the slice count. GEMV always takes the staged form (X chunks in shared memory): W4A8 activations are
// 4x smaller than fp16 ones, so the staging costs less than the K-partitioned form's reduction.
// Config knobs (autotune/search_space.cpp families gemv_w4a8 / tiled_w4a8 keep them valid): GEMV wg,
// cols (NC), split; tiled bm, tile (1 the GPU register tile, 2 the CPU-driver (BM/8) x 8 one), split.
inline W4A8Plan plan_w4a8(DeviceProfile d, bool gemv, uint64_t m, uint64_t n, uint64_t k, int group, int split_k,
                          const KernelConfig& c = {}) {
  W4A8Plan p;
  p.gemv = gemv;
  p.any_group = group % 8 != 0 && uint64_t(group) != k;
  if (split_k <= 0 && c.split > 0) split_k = c.split;
  if (gemv) {
    KernelConfig staged = c;
    staged.variant = 1;  // the staged form only (see above)
    p.g = plan_gemv(d, true, m, n, k, split_k, staged);
    p.k_split = p.g.k_split, p.splits = p.g.splits;
    p.groups_x = p.g.groups_n, p.groups_y = p.splits;
    return p;
  }
  const bool cpu_tile = c.tile ? c.tile == 2 : d.cpu;
  p.t = c.bm ? tiled_tile(uint32_t(c.bm), false, 1) : tiled_config(m, n, k, true, false, 1);
  p.t.bk = kW4A8TiledBk;
  p.t.stages = 1;
  if (cpu_tile) {  // CPU drivers: (BM/8) x 8 int32 accumulators, 128 invocations (lavapipe compiles the W4A16 x 16
                   // register tile of portable 4-lane dot products for minutes at the first dispatch)
    p.t.bn = 128, p.t.tm = p.t.bm / 8, p.t.tn = 8;
  }
  p.t.wg = (p.t.bm / p.t.tm) * (p.t.bn / p.t.tn);
  p.groups_x = (n + p.t.bn - 1) / p.t.bn;
  p.groups_y = (m + p.t.bm - 1) / p.t.bm;
  p.k_split = plan_tiled_split(d, p.groups_x * p.groups_y, k, split_k, p.splits);
  return p;
}

// Integer dot-product instructions are used where the device has them, unless $LOWBIT_NO_INT_DOT is set
// (non-empty, not "0"): then the portable path (lb_dot4_i8) runs, as on devices without them.
inline bool int_dot_allowed() {
  const char* v = std::getenv("LOWBIT_NO_INT_DOT");
  return !(v && *v && !(v[0] == '0' && v[1] == 0));
}

}  // namespace lowbit::detail
