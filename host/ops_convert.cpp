// ops_convert.cpp — quantize / dequantize entry points: argument checks, output allocation, dispatch.
#include <cstring>

#include "autotune/tuning_state.hpp"
#include "backend/device.hpp"
#include "lowbit_formats.h"
#include "host/device_call.hpp"

namespace lowbit {

static int elem_of(DType d, const char* what) {
  switch (d) {
    case DType::F32: return LB_FMT_F32;
    case DType::F16: return LB_FMT_F16;
    case DType::BF16: return LB_FMT_BF16;
    default:
      throw Error(ErrorCode::InvalidArgument, std::string(what) + " must be float32, float16 or bfloat16, got " +
                                                  to_string(d));
  }
}

static void split_rows(const Shape& s, uint64_t& rows, uint64_t& cols) {
  if (s.empty()) {
    rows = 1;
    cols = 1;
    return;
  }
  cols = uint64_t(s.back());
  rows = cols ? uint64_t(numel(s)) / cols : 0;
  if (!cols) rows = uint64_t(numel(Shape(s.begin(), s.end() - 1)));
}

// The tuned launch of a conversion (family convert: workgroup size, elements per invocation), keyed by
// format, direction, float type and packing; rows x cols is the lookup's M x N.
static KernelConfig convert_config(detail::Device& dev, const FormatInfo& f, bool quantize, DType floats, bool packed,
                                   uint64_t rows, uint64_t cols) {
  const std::string format = std::string(f.name) + (quantize ? " quantize " : " dequantize ") + to_string(floats) +
                             (packed && f.bits != 8 ? " packed" : "");
  return detail::choose_config(dev, "convert", format,
                               {.m = int64_t(rows), .n = int64_t(cols), .k = 0, .block = uint32_t(f.block)})
      .config;
}

static Shape with_last(const Shape& s, int64_t last) {
  Shape r = s.empty() ? Shape{1} : s;
  r.back() = last;
  return r;
}

QTensor Context::alloc_qtensor(Format f, Shape shape, bool packed) {
  const FormatInfo& fi = format_info(f);
  QTensor q;
  q.format = f;
  q.packed = packed;
  q.shape = shape;
  uint64_t rows, cols;
  split_rows(shape, rows, cols);
  q.codes = packed ? alloc(DType::U8, with_last(shape, int64_t(packed_row_bytes(f, cols)))) : alloc(DType::U8, shape);
  if (fi.block) q.scales = alloc(DType::U8, with_last(shape, int64_t(scales_per_row(f, cols))));
  if (fi.tensor_scale) q.tensor_scale = alloc(DType::F32, {1});
  return q;
}

static void check_qtensor(const QTensor& q) {
  const FormatInfo& fi = format_info(q.format);
  uint64_t rows, cols;
  split_rows(q.shape, rows, cols);
  uint64_t code_bytes = rows * (q.packed ? packed_row_bytes(q.format, cols) : cols);
  if (!q.codes.valid() || q.codes.bytes() < code_bytes)
    throw Error(ErrorCode::InvalidArgument, std::string(fi.name) + ": codes buffer holds " +
                                                std::to_string(q.codes.valid() ? q.codes.bytes() : 0) +
                                                " bytes, shape " + shape_str(q.shape) + " needs " +
                                                std::to_string(code_bytes));
  if (fi.block) {
    uint64_t sb = rows * scales_per_row(q.format, cols);
    if (!q.scales.valid() || q.scales.bytes() < sb)
      throw Error(ErrorCode::InvalidArgument, std::string(fi.name) + ": scales buffer holds " +
                                                  std::to_string(q.scales.valid() ? q.scales.bytes() : 0) +
                                                  " bytes, needs " + std::to_string(sb));
  }
  if (fi.tensor_scale && (!q.tensor_scale.valid() || q.tensor_scale.bytes() < 4))
    throw Error(ErrorCode::InvalidArgument, std::string(fi.name) + ": missing the fp32 tensor scale");
}

void Context::quantize_into(const Buffer& x, QTensor& q, const QuantizeOptions& o) {
  detail::DeviceCall call(*dev_);
  const FormatInfo& fi = format_info(q.format);
  if (!x.valid()) throw Error(ErrorCode::InvalidArgument, "quantize: empty input buffer");
  if (numel(x.shape()) != numel(q.shape) || (!x.shape().empty() && !q.shape.empty() && x.shape().back() != q.shape.back()))
    throw Error(ErrorCode::InvalidArgument, "quantize: input shape " + shape_str(x.shape()) +
                                                " does not match the output's " + shape_str(q.shape));
  if (!o.saturate && fi.block)
    throw Error(ErrorCode::InvalidArgument, std::string(fi.name) + ": non-saturating mode exists only for plain FP8 formats");
  check_qtensor(q);
  detail::QuantizeArgs a;
  a.fmt = &fi;
  a.src_elem = elem_of(x.dtype(), "quantize input");
  a.src = x.mem().get();
  a.codes = q.codes.mem().get();
  a.scales = q.scales.valid() ? q.scales.mem().get() : nullptr;
  a.tensor_scale = q.tensor_scale.valid() ? q.tensor_scale.mem().get() : nullptr;
  split_rows(q.shape, a.rows, a.cols);
  a.saturate = o.saturate;
  a.packed = q.packed;
  if (o.nvfp4_tensor_scale) {
    float ts = *o.nvfp4_tensor_scale;
    if (!fi.tensor_scale) throw Error(ErrorCode::InvalidArgument, "a tensor scale applies only to nvfp4");
    if (!(ts > 0.0f) || ts == __builtin_inff())
      throw Error(ErrorCode::InvalidArgument, "nvfp4 tensor scale must be finite and > 0, got " + std::to_string(ts));
    a.tensor_scale_given = true;
    std::memcpy(&a.tensor_scale_bits, &ts, 4);
  }
  if (a.rows * a.cols == 0) return;
  a.config = convert_config(*dev_, fi, true, x.dtype(), q.packed, a.rows, a.cols);
  dev_->quantize(a);
}

QTensor Context::quantize(const Buffer& x, Format f, const QuantizeOptions& o) {
  QTensor q = alloc_qtensor(f, x.shape(), o.packed);
  quantize_into(x, q, o);
  return q;
}

void Context::dequantize_into(const QTensor& q, Buffer& out) {
  detail::DeviceCall call(*dev_);
  check_qtensor(q);
  if (!out.valid() || numel(out.shape()) != numel(q.shape))
    throw Error(ErrorCode::InvalidArgument, "dequantize: output shape " + shape_str(out.shape()) +
                                                " does not match " + shape_str(q.shape));
  detail::DequantizeArgs a;
  a.fmt = &format_info(q.format);
  a.out_elem = elem_of(out.dtype(), "dequantize output");
  a.codes = q.codes.mem().get();
  a.scales = q.scales.valid() ? q.scales.mem().get() : nullptr;
  a.tensor_scale = q.tensor_scale.valid() ? q.tensor_scale.mem().get() : nullptr;
  a.dst = out.mem().get();
  split_rows(q.shape, a.rows, a.cols);
  a.packed = q.packed;
  if (a.rows * a.cols == 0) return;
  a.config = convert_config(*dev_, *a.fmt, false, out.dtype(), q.packed, a.rows, a.cols);
  dev_->dequantize(a);
}

Buffer Context::dequantize(const QTensor& q, DType out) {
  Buffer b = alloc(out, q.shape.empty() ? Shape{} : q.shape);
  dequantize_into(q, b);
  return b;
}

}  // namespace lowbit
