// cl_convert.cpp — quantize / dequantize on OpenCL: picks the convert.cl variant (-D options) for a
// format and element type, then enqueues the kernels (NVFP4 also the tensor-scale amax pass).
#include <algorithm>

#include "backend/convert_plan.hpp"
#include "backend/opencl/opencl_device.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail::cl {

namespace {

constexpr size_t kAmaxLocal = 256;  // work-group size of lb_amax

// Build options of the convert.cl variant. `float_elem`: quantize source / dequantize destination.
std::string variant_options(const FormatInfo& f, int float_elem, bool packed, bool saturate, const ConvertPlan& p) {
  int scale = f.scale == ScaleKind::E8M0 ? 1 : (f.scale == ScaleKind::E4M3 ? 2 : 0);
  bool pk = packed && f.bits < 8;    // 8-bit codes are one per byte either way
  bool sat = saturate || f.block;    // block formats always saturate
  return "-cl-std=CL1.2 -DLB_ELEM=" + std::to_string(f.elem) + " -DLB_FLOAT=" + std::to_string(float_elem) +
         " -DLB_BLOCK=" + std::to_string(f.block) + " -DLB_SCALE=" + std::to_string(scale) +
         " -DLB_BITS=" + std::to_string(f.bits) + " -DLB_PACKED=" + (pk ? "1" : "0") +
         " -DLB_SATURATE=" + (sat ? "1" : "0") + " -DLB_GROUP=" + std::to_string(p.group) +
         " -DLB_BLOCKS=" + std::to_string(p.blocks);
}

size_t work_items(const FormatInfo& f, const ConvertPlan& p, uint64_t rows, uint64_t cols) {
  return size_t(p.items(rows, cols, f.block ? (cols + f.block - 1) / f.block : 0, f.block != 0));
}

}  // namespace

void OpenClDevice::quantize(const QuantizeArgs& a) {
  const FormatInfo& f = *a.fmt;
  const ConvertPlan plan = plan_convert(f, a.config, uint32_t(info_.max_workgroup_size));
  std::string opts = variant_options(f, a.src_elem, a.packed, a.saturate, plan);
  cl_ulong rows = a.rows, cols = a.cols;

  if (f.tensor_scale) {
    if (a.tensor_scale_given) {
      fill_u32(*a.tensor_scale, a.tensor_scale_bits);
    } else {
      fill_u32(*a.tensor_scale, 0u);  // running max of finite |x| bits
      cl_kernel amax = kernel(opts, "lb_amax");
      size_t local = local_size(amax, kAmaxLocal);
      cl_ulong n = rows * cols;
      size_t groups = std::clamp<size_t>(size_t((n + local * 64 - 1) / (local * 64)), 1,
                                         size_t(64) * std::max<size_t>(1, max_compute_units_));
      set_arg(amax, 0, mem(a.src));
      set_arg(amax, 1, n);
      set_arg(amax, 2, mem(a.tensor_scale));
      check(clSetKernelArg(amax, 3, local * sizeof(cl_uint), nullptr), "clSetKernelArg");
      launch(amax, groups * local, local);
      cl_kernel fin = kernel(opts, "lb_nvfp4_finalize");
      set_arg(fin, 0, mem(a.tensor_scale));
      launch(fin, 1, 1);
    }
  }

  cl_kernel k = kernel(opts, "lb_quantize");
  set_arg(k, 0, mem(a.src));
  set_arg(k, 1, mem(a.codes));
  set_arg(k, 2, mem(a.scales));
  set_arg(k, 3, mem(a.tensor_scale));
  set_arg(k, 4, rows);
  set_arg(k, 5, cols);
  launch(k, work_items(f, plan, rows, cols), local_size(k, plan.wg));
}

void OpenClDevice::dequantize(const DequantizeArgs& a) {
  const FormatInfo& f = *a.fmt;
  const ConvertPlan plan = plan_convert(f, a.config, uint32_t(info_.max_workgroup_size));
  cl_kernel k = kernel(variant_options(f, a.out_elem, a.packed, true, plan), "lb_dequantize");
  cl_ulong rows = a.rows, cols = a.cols;
  set_arg(k, 0, mem(a.codes));
  set_arg(k, 1, mem(a.scales));
  set_arg(k, 2, mem(a.tensor_scale));
  set_arg(k, 3, mem(a.dst));
  set_arg(k, 4, rows);
  set_arg(k, 5, cols);
  launch(k, work_items(f, plan, rows, cols), local_size(k, plan.wg));
}

}  // namespace lowbit::detail::cl
