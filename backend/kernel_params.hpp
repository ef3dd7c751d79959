// kernel_params.hpp — the one declaration of each tuned GEMM kernel's compile-time parameters: their
// values in Vulkan specialization-constant order (constant_id = index in gemm_gemv.comp /
// gemm_tiled.comp) and the OpenCL -D name of each (gemm.cl), so a launch plan (and through it a tuned
// KernelConfig) reaches both backends the same way. A new knob = one name here + its place in the plan.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backend/gemm_plan.hpp"

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

}  // namespace lowbit::detail
