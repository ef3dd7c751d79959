// cl_kv_append.cpp — kv_append on OpenCL: quantizes the new K and V rows into their cache slots with
// shaders/opencl/kv_append.cl in one launch (variant per format, head dim, work-items per row and rows
// per work-group via -D options; the plan is attn::plan_kv_append, shared with Vulkan).
#include "backend/attention_plan.hpp"
#include "backend/opencl/cl_kv_args.hpp"
#include "backend/opencl/opencl_device.hpp"

namespace lowbit::detail::cl {

void OpenClDevice::kv_append(const KvAppendArgs& a) {
  const KvLayerArgs& kv = a.kv;
  attn::check_head_dim(kv.head_dim, "opencl");
  if (!a.tokens) return;
  const cl_uint rows = cl_uint(a.tokens * kv.kv_heads);
  const attn::KvAppendPlan plan =
      attn::plan_kv_append(kv.head_dim, 2 * uint64_t(rows), 8, uint64_t(2) * std::max<cl_uint>(1, max_compute_units_),
                           1, a.config.rows);
  const std::string opts = "-cl-std=CL1.2 -DLB_FMT=" + std::to_string(kv.format) + " -DLB_D=" +
                           std::to_string(kv.head_dim) + " -DLB_RPW=" + std::to_string(plan.rows_per_group) +
                           " -DLB_R=" + std::to_string(plan.lanes_per_row);
  cl_kernel k = kernel("kv_append.cl", opts, "lb_kv_append");
  set_arg(k, 0, mem(a.k_new));
  set_arg(k, 1, mem(a.v_new));
  set_arg(k, 2, mem(a.slots));
  set_kv_cache_args(k, 3, kv);
  set_arg(k, 11, rows);
  set_arg(k, 12, cl_uint(kv.kv_heads));
  set_arg(k, 13, cl_uint(kv.fp8_per_head ? 1 : 0));
  launch(k, size_t(plan.groups) * plan.workgroup(), plan.workgroup());
}

}  // namespace lowbit::detail::cl
