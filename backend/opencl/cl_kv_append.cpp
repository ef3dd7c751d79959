// cl_kv_append.cpp — kv_append on OpenCL: quantizes the new K and V rows into their cache slots with
// shaders/opencl/kv_append.cl (variant per format and head dim via -D options).
#include "backend/attention_plan.hpp"
#include "backend/opencl/opencl_device.hpp"

namespace lowbit::detail::cl {

namespace {
constexpr uint32_t kAppendWg = 64;
}  // namespace

void OpenClDevice::kv_append(const KvAppendArgs& a) {
  const KvLayerArgs& kv = a.kv;
  attn::check_head_dim(kv.head_dim, "opencl");
  if (!a.tokens) return;
  cl_kernel k = kernel("kv_append.cl", "-cl-std=CL1.2 -DLB_FMT=" + std::to_string(kv.format) + " -DLB_D=" + std::to_string(kv.head_dim),
                       "lb_kv_append");
  const bool ints = attn::kv_int_format(kv.format), fp8 = attn::kv_fp8_format(kv.format);
  cl_mem none = nullptr;
  const cl_uint rows = cl_uint(a.tokens * kv.kv_heads);
  for (int side = 0; side < 2; ++side) {
    DeviceBuffer* codes = side ? kv.v : kv.k;
    DeviceBuffer* scale = side ? kv.v_scale : kv.k_scale;
    DeviceBuffer* zero = side ? kv.v_zero : kv.k_zero;
    set_arg(k, 0, mem(side ? a.v_new : a.k_new));
    set_arg(k, 1, mem(a.slots));
    set_arg(k, 2, mem(codes));
    set_arg(k, 3, mem(codes));
    set_arg(k, 4, ints ? mem(scale) : none);
    set_arg(k, 5, ints ? mem(zero) : none);
    set_arg(k, 6, fp8 ? mem(scale) : none);
    set_arg(k, 7, rows);
    set_arg(k, 8, cl_uint(kv.kv_heads));
    set_arg(k, 9, cl_uint(kv.fp8_per_head ? 1 : 0));
    launch(k, rows, kAppendWg);
  }
}

}  // namespace lowbit::detail::cl
