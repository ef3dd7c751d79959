// cl_kv_append.cpp — kv_append on OpenCL: quantizes the new K and V rows into their cache slots with
// shaders/opencl/kv_append.cl (variant per format, head dim and rows per work-group via -D options),
// one work-item per cache word, a few (token, kv head) rows per work-group.
#include "backend/attention_plan.hpp"
#include "backend/opencl/opencl_device.hpp"

namespace lowbit::detail::cl {

void OpenClDevice::kv_append(const KvAppendArgs& a) {
  const KvLayerArgs& kv = a.kv;
  attn::check_head_dim(kv.head_dim, "opencl");
  if (!a.tokens) return;
  const uint32_t words = attn::kv_append_words_per_row(kv.head_dim, kv.format), rpw = attn::kv_append_rows_per_group(words, a.config.rows);
  const std::string opts = "-cl-std=CL1.2 -DLB_FMT=" + std::to_string(kv.format) + " -DLB_D=" +
                           std::to_string(kv.head_dim) + " -DLB_RPW=" + std::to_string(rpw);
  cl_kernel k = kernel("kv_append.cl", opts, "lb_kv_append");
  const bool ints = attn::kv_int_format(kv.format), fp8 = attn::kv_fp8_format(kv.format);
  cl_mem none = nullptr;
  const cl_uint rows = cl_uint(a.tokens * kv.kv_heads);
  const size_t wg = size_t(rpw) * words, groups = (size_t(rows) + rpw - 1) / rpw;
  for (int side = 0; side < 2; ++side) {
    DeviceBuffer* scale = side ? kv.v_scale : kv.k_scale;
    set_arg(k, 0, mem(side ? a.v_new : a.k_new));
    set_arg(k, 1, mem(a.slots));
    set_arg(k, 2, mem(side ? kv.v : kv.k));
    set_arg(k, 3, ints ? mem(scale) : none);
    set_arg(k, 4, ints ? mem(side ? kv.v_zero : kv.k_zero) : none);
    set_arg(k, 5, fp8 ? mem(scale) : none);
    set_arg(k, 6, rows);
    set_arg(k, 7, cl_uint(kv.kv_heads));
    set_arg(k, 8, cl_uint(kv.fp8_per_head ? 1 : 0));
    launch(k, groups * wg, wg);
  }
}

}  // namespace lowbit::detail::cl
