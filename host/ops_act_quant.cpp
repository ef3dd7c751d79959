// ops_act_quant.cpp — Context::quantize_activations_int8: checks the activations and the optional RMSNorm
// weight, allocates codes / scales / row sums and runs the backend's kernel (same bits on every backend).
#include <bit>
#include <cmath>

#include "host/device_call.hpp"

#include "backend/device.hpp"
#include "lowbit_formats.h"

namespace lowbit {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, "quantize_activations_int8: " + s); }

int float_elem(const Buffer& b, const char* what) {
  if (b.dtype() == DType::F16) return LB_FMT_F16;
  if (b.dtype() == DType::F32) return LB_FMT_F32;
  bad(std::string(what) + " must be float16 or float32, got " + to_string(b.dtype()));
}

}  // namespace

ActInt8 Context::quantize_activations_int8(const Buffer& x, const ActQuantOptions& o) {
  detail::DeviceCall call(*dev_);
  if (!x.valid()) bad("no activations given");
  if (x.shape().size() != 2) bad("activations must be a [M, K] matrix, got shape " + shape_str(x.shape()));
  detail::ActQuantArgs a;
  a.x_elem = float_elem(x, "activations");
  const int64_t m = x.shape()[0], k = x.shape()[1];
  if (m <= 0 || k <= 0) bad("activations " + shape_str(x.shape()) + " have no rows or no columns");
  if (uint64_t(m) * uint64_t(k) >= (uint64_t(1) << 32)) bad("activations " + shape_str(x.shape()) + " exceed 2^32 elements");
  if (o.rms_weight.valid()) {
    a.rms_weight_elem = float_elem(o.rms_weight, "the RMSNorm weight");
    if (o.rms_weight.shape() != Shape{k})
      bad("the RMSNorm weight must have shape [" + std::to_string(k) + "] (K of the activations), got " +
          shape_str(o.rms_weight.shape()));
    if (!std::isfinite(o.eps) || o.eps < 0.0f) bad("RMSNorm eps must be finite and >= 0, got " + std::to_string(o.eps));
    if (k > (int64_t(1) << 24)) bad("RMSNorm takes K <= 2^24, got K = " + std::to_string(k));
    a.rms_weight = o.rms_weight.mem().get();
    a.eps = o.eps;
  }
  ActInt8 out;
  out.codes = alloc_buffer(DType::I8, {m, k}, true);
  out.scales = alloc_buffer(DType::F32, {m}, true);
  out.sums = alloc_buffer(DType::I32, {m}, true);
  a.x = x.mem().get();
  a.codes = out.codes.mem().get();
  a.scales = out.scales.mem().get();
  a.sums = out.sums.mem().get();
  a.m = uint64_t(m), a.k = uint64_t(k);
  dev_->quantize_activations_int8(a);
  return out;
}

}  // namespace lowbit
