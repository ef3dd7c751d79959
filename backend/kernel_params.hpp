// kernel_params.hpp — the one declaration of each tuned GEMM kernel's compile-time parameters: their
// values in Vulkan specialization-constant order (constant_id = index in gemm_gemv.comp /
// gemm_tiled.comp / gemm_w4a8.comp) and the OpenCL -D name of each (gemm.cl), so a launch plan (and through it a tuned
// KernelConfig) reaches both backends the same way. A new knob = one name here + its place in the plan.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backend/gemm_plan.hpp"
#include "backend/w4a8_plan.hpp"

namespace lowbit::detail {

struct KernelParams {
  std::span<const char* const> defines;  // -D name of each value
  std::vector<uint32_t> values;          // specialization constants 0..n-1
  // " -DNAME=value ..." for clBuildProgram.
  std::string cl_options() const {
    std::string s;
    for (size_t i = 0; i < values.size(); ++i) s += std::string(" -D") + defines[i] + "=" + std::to_string(values[i]);
    return s;
  }
};

inline constexpr const char* kGemvDefines[] = {"LB_WG", "LB_MT", "LB_W4", "LB_KC", "LB_COLS",
                                               "LB_NC", "LB_KP", "LB_XS", "LB_RB", "LB_UW", "LB_LR"};
inline constexpr const char* kTiledDefines[] = {"LB_WG", "LB_BM", "LB_BN",        "LB_BK",    "LB_TM",
                                                "LB_TN", "LB_W4", "LB_ANY_GROUP", "LB_STAGES"};

inline KernelParams gemv_params(const GemvPlan& p, bool w4) {
  return {kGemvDefines, {p.wg, p.mt, w4 ? 1u : 0u, p.kc, p.cols, p.nc, p.kp, p.xs ? 1u : 0u, p.rb, p.u,
                          p.lr ? 1u : 0u}};
}

// any_group: int4 groups that are not a multiple of 8 rows (a word may straddle two groups).
inline KernelParams tiled_params(const TiledConfig& tc, bool w4, bool any_group) {
  return {kTiledDefines, {tc.wg, tc.bm, tc.bn, tc.bk, tc.tm, tc.tn, w4 ? 1u : 0u, any_group ? 1u : 0u, tc.stages}};
}

// gemm_w4a8.comp GEMV / TILED constants (constant_id = index) and gemm_w4a8.cl's -D names.
inline constexpr const char* kW4A8GemvDefines[] = {"LB_WG", "LB_MT", "LB_NC", "LB_KC", "LB_ANY_GROUP"};
inline constexpr const char* kW4A8TiledDefines[] = {"LB_WG", "LB_BM", "LB_BN",       "LB_BK",
                                                    "LB_TM", "LB_TN", "LB_ANY_GROUP"};

inline KernelParams w4a8_params(const W4A8Plan& p) {
  const uint32_t any = p.any_group ? 1u : 0u;
  if (p.gemv) return {kW4A8GemvDefines, {p.g.wg, p.g.mt, p.g.nc, p.g.kc, any}};
  return {kW4A8TiledDefines, {p.t.wg, p.t.bm, p.t.bn, p.t.bk, p.t.tm, p.t.tn, any}};
}

}  // namespace lowbit::detail
