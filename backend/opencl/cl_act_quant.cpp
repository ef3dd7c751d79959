// cl_act_quant.cpp — quantize_activations_int8 on OpenCL (shaders/opencl/act_quant.cl): one work-group per
// row; the input and RMSNorm weight types and the work-group size are -D options.
#include <bit>
#include <string>

#include "backend/opencl/opencl_device.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail::cl {

void OpenClDevice::quantize_activations_int8(const ActQuantArgs& a) {
  size_t wg = 1;  // a power of two dividing LB_ACT_LANES
  while (wg * 2 <= LB_ACT_LANES && wg * 2 <= info_.max_workgroup_size) wg *= 2;
  const bool rms = a.rms_weight != nullptr;
  const std::string opts = "-cl-std=CL1.2 -DLB_WG=" + std::to_string(wg) + " -DLB_X_F32=" +
                           (a.x_elem == LB_FMT_F32 ? "1" : "0") + " -DLB_RMS=" + (rms ? "1" : "0") +
                           " -DLB_W_F32=" + (rms && a.rms_weight_elem == LB_FMT_F32 ? "1" : "0");
  cl_kernel k = kernel("act_quant.cl", opts, "lb_act_quant");
  set_arg(k, 0, mem(a.x));
  set_arg(k, 1, mem(a.rms_weight));
  set_arg(k, 2, mem(a.codes));
  set_arg(k, 3, mem(a.scales));
  set_arg(k, 4, mem(a.sums));
  set_arg(k, 5, cl_uint(a.m));
  set_arg(k, 6, cl_uint(a.k));
  set_arg(k, 7, cl_uint(std::bit_cast<uint32_t>(a.eps)));
  launch(k, size_t(a.m) * wg, wg);
}

}  // namespace lowbit::detail::cl
