// cl_gemm.cpp — gemm (fp16 / int4 weights) and the act_order gather on OpenCL: picks the gemm.cl
// variant (-D options) for the path, M and weight type, chooses split-K for small M, and enqueues the
// GEMM plus, with several K slices, the reduction kernel.
#include <algorithm>

#include "backend/gemm_plan.hpp"
#include "backend/kernel_params.hpp"
#include "backend/tiled_config.hpp"
#include "backend/opencl/opencl_device.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail::cl {

namespace {

constexpr uint32_t kFlagBias = 1, kFlagZeros = 2, kFlagOutF32 = 4, kFlagBiasF32 = 8;

}  // namespace

void OpenClDevice::gemm(const GemmArgs& a) {
  const bool gemv = a.path == GemmPath::Gemv;
  // groups that are not a multiple of 8 rows: the straddling-word variant
  const bool any_group = a.w4 && a.group % 8 != 0;
  std::string opts = "-cl-std=CL1.2";
  uint32_t flags = (a.bias ? kFlagBias : 0) | (a.bias && a.bias_f32 ? kFlagBiasF32 : 0) | (a.zeros ? kFlagZeros : 0) |
                   (a.out_elem == LB_FMT_F32 ? kFlagOutF32 : 0);
  cl_uint M = cl_uint(a.m), N = cl_uint(a.n), K = cl_uint(a.k), group = cl_uint(a.w4 ? a.group : 0);

  // The launch plan (backend/gemm_plan.hpp): GEMV geometry and split-K; the tiled path splits K as the
  // caller asks (split_k), or, with no request, when its output tiles alone would leave compute units
  // idle, in slices of whole pipeline steps (plan_tiled_split).
  const GemvPlan gp = gemv ? plan_gemv(profile_, a.w4, a.m, a.n, a.k, a.split_k, a.config) : GemvPlan{};
  const TiledConfig tc = plan_tiled(profile_, a.m, a.n, a.k, a.w4, a.stages, a.config);
  const uint64_t tiles = ((a.n + tc.bn - 1) / tc.bn) * ((a.m + tc.bm - 1) / tc.bm);
  uint32_t splits = 1;
  cl_uint k_split = cl_uint(a.k);
  if (gemv) {
    splits = gp.splits, k_split = gp.k_split;
  } else {
    k_split = plan_tiled_split(profile_, tiles, a.k, a.split_k, splits);
  }
  std::shared_ptr<DeviceBuffer> partials;
  if (splits > 1) partials = alloc_pooled(size_t(splits) * a.m * a.n * 4);
  cl_mem y = splits > 1 ? mem(partials.get()) : mem(a.y);

  cl_kernel k;
  if (gemv) {
    opts += " -DLB_ANY_GROUP=" + std::string(any_group ? "1" : "0") + gemv_params(gp, a.w4).cl_options();
    k = kernel("gemm.cl", opts, "lb_gemm_gemv");
  } else {
    opts += tiled_params(tc, a.w4, any_group).cl_options();
    k = kernel("gemm.cl", opts, "lb_gemm_tiled");
  }
  cl_uint args_splits = splits;
  set_arg(k, 0, mem(a.x));
  set_arg(k, 1, mem(a.w));
  set_arg(k, 2, mem(a.scales));
  set_arg(k, 3, mem(a.zeros ? a.zeros : a.scales));  // without zeros a stand-in (gemm.cl: lb_zero_base)
  set_arg(k, 4, mem(a.bias));
  set_arg(k, 5, y);
  set_arg(k, 6, y);
  set_arg(k, 7, M);
  set_arg(k, 8, N);
  set_arg(k, 9, K);
  set_arg(k, 10, group);
  set_arg(k, 11, k_split);
  set_arg(k, 12, args_splits);
  set_arg(k, 13, cl_uint(flags));
  GemmLaunch l;
  l.split_k = splits;
  if (gemv) {
    launch2(k, gp.groups_n * gp.wg, splits, gp.wg);
    l.kernel = "lb_gemm_gemv";
    l.workgroups = gp.workgroups();
    l.invocations_per_workgroup = gp.wg;
    l.shared_bytes = gp.shared_bytes();
    l.stages = 1;
    l.k_partitions = a.w4 ? gp.kp : gp.wg / gp.cols;
    l.gemv_variant = a.w4 ? gp.variant() : 0;
  } else {
    const size_t groups_x = (a.n + tc.bn - 1) / tc.bn, groups_y = (a.m + tc.bm - 1) / tc.bm;
    launch3(k, groups_x * tc.wg, groups_y, splits, tc.wg);
    l.kernel = "lb_gemm_tiled";
    l.workgroups = groups_x * groups_y * splits;
    l.invocations_per_workgroup = tc.wg;
    l.shared_bytes = tc.shared_bytes();
    l.stages = tc.stages;
  }
  last_launch_ = l;
  if (splits > 1) {
    cl_kernel r = kernel("gemm.cl", "-cl-std=CL1.2", "lb_gemm_reduce");
    set_arg(r, 0, mem(partials.get()));
    set_arg(r, 1, mem(a.bias));
    set_arg(r, 2, mem(a.y));
    set_arg(r, 3, mem(a.y));
    set_arg(r, 4, M);
    set_arg(r, 5, N);
    set_arg(r, 6, cl_uint(splits));
    set_arg(r, 7, cl_uint(flags));
    launch(r, size_t(a.m * a.n), local_size(r, 256));
  }
}

void OpenClDevice::gather_columns(const GatherArgs& a) {
  cl_kernel k = kernel("gemm.cl", "-cl-std=CL1.2", "lb_gather");
  set_arg(k, 0, mem(a.x));
  set_arg(k, 1, mem(a.perm));
  set_arg(k, 2, mem(a.out));
  set_arg(k, 3, cl_uint(a.m));
  set_arg(k, 4, cl_uint(a.k));
  launch(k, size_t(a.m * a.k), local_size(k, 256));
}

}  // namespace lowbit::detail::cl
