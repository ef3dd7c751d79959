// cl_gemm_w4a8.cpp — gemm_w4a8 on OpenCL: the plan of backend/w4a8_plan.hpp, the gemm_w4a8.cl variant
// (-D options; dot_4x8packed_ss_int where the device has cl_khr_integer_dot_product), and the int32 split-K
// reduce kernel.
#include <string>

#include "backend/opencl/opencl_device.hpp"
#include "backend/kernel_params.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail::cl {

namespace {
constexpr uint32_t kFlagBias = 1, kFlagOutF32 = 4, kFlagBiasF32 = 8;
}  // namespace

void OpenClDevice::gemm_w4a8(const GemmW4A8Args& a) {
  const W4A8Plan plan = plan_w4a8(profile_, a.path == GemmPath::Gemv, a.m, a.n, a.k, a.group, a.split_k, a.config);
  const bool dot = info_.integer_dot_product;  // cl_khr_integer_dot_product, unless $LOWBIT_NO_INT_DOT
  const std::string opts = "-cl-std=CL1.2 -DLB_INT_DOT=" + std::string(dot ? "1" : "0") + w4a8_params(plan).cl_options();
  const char* name = plan.gemv ? "lb_w4a8_gemv" : "lb_w4a8_tiled";
  std::shared_ptr<DeviceBuffer> partials;
  if (plan.splits > 1) partials = alloc_pooled(size_t(plan.splits) * a.m * a.n * 4);
  const cl_uint M = cl_uint(a.m), N = cl_uint(a.n), flags = cl_uint(
      (a.bias ? kFlagBias : 0) | (a.bias && a.bias_f32 ? kFlagBiasF32 : 0) | (a.out_elem == LB_FMT_F32 ? kFlagOutF32 : 0));
  cl_kernel k = kernel("gemm_w4a8.cl", opts, name);
  const cl_mem args[] = {mem(a.a), mem(a.qweight), mem(a.s2), mem(a.zeros), mem(a.a_scale),
                         mem(a.s1), mem(a.bias),   mem(a.y),  mem(partials.get())};
  for (cl_uint i = 0; i < 9; ++i) set_arg(k, i, args[i]);
  const cl_uint scalars[] = {M, N, cl_uint(a.k), cl_uint(a.group), plan.k_split, plan.splits, flags};
  for (cl_uint i = 0; i < 7; ++i) set_arg(k, 9 + i, scalars[i]);
  launch3(k, plan.groups_x * plan.wg(), plan.groups_y, plan.gemv ? 1 : plan.splits, plan.wg());
  last_launch_ = GemmLaunch{.kernel = std::string(name) + (dot ? "_dot" : ""), .workgroups = plan.workgroups(), .invocations_per_workgroup = plan.wg(),
                            .shared_bytes = plan.shared_bytes(), .stages = 1, .split_k = plan.splits, .k_partitions = 1};
  if (plan.splits > 1) {
    cl_kernel r = kernel("gemm_w4a8.cl", "-cl-std=CL1.2", "lb_w4a8_reduce");
    const cl_mem rargs[] = {mem(partials.get()), mem(a.a_scale), mem(a.s1), mem(a.bias), mem(a.y)};
    for (cl_uint i = 0; i < 5; ++i) set_arg(r, i, rargs[i]);
    set_arg(r, 5, M);
    set_arg(r, 6, N);
    set_arg(r, 7, cl_uint(plan.splits));
    set_arg(r, 8, flags);
    launch(r, size_t(a.m * a.n), local_size(r, 256));
  }
}

}  // namespace lowbit::detail::cl
