// c_convert.cpp — C API: quantize / dequantize (QTensor handles) and format facts.
#include "host/c_api/c_boundary.hpp"

using namespace lowbit;
using namespace lowbit::c_api;

namespace {

QuantizeOptions quantize_options(const lowbit_quantize_options* o) {
  QuantizeOptions q;
  if (!o) return q;
  q.saturate = o->saturate;
  q.packed = o->packed;
  if (o->has_nvfp4_tensor_scale) q.nvfp4_tensor_scale = o->nvfp4_tensor_scale;
  return q;
}

template <class Q>  // lowbit_qtensor or const lowbit_qtensor
Q& need_qtensor(const Context& ctx, Q* q, const char* fn) {
  same_context(ctx, need(q, fn, "q").owner, fn, "q");
  return *q;
}

// A new buffer handle over one part of a quantized tensor, or NULL for a part the format does not have.
lowbit_status part(const lowbit_qtensor* q, Buffer QTensor::*member, lowbit_buffer** out, const char* fn) {
  return guarded(fn, [&](const char*) {
    const lowbit_qtensor& t = need(q, fn, "q");
    need(out, fn, "out");
    const Buffer& b = t.q.*member;
    *out = b.valid() ? new_handle<lowbit_buffer>(t.owner, b) : nullptr;
  });
}

}  // namespace

extern "C" {

lowbit_status lowbit_quantize_options_init(lowbit_quantize_options* o) {
  return guarded(__func__, [&](const char* fn) {
    need(o, fn, "options") = lowbit_quantize_options{};
    o->saturate = true;
  });
}

lowbit_status lowbit_quantize(lowbit_context* ctx, const lowbit_buffer* x, lowbit_format format,
                              const lowbit_quantize_options* opts, lowbit_qtensor** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& xb = need_buffer(c, x, fn, "x");
    need(out, fn, "out");
    *out = new_handle<lowbit_qtensor>(c, c.quantize(xb, to_format(format, fn), quantize_options(opts)));
  });
}

lowbit_status lowbit_quantize_into(lowbit_context* ctx, const lowbit_buffer* x, lowbit_qtensor* q,
                                   const lowbit_quantize_options* opts) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& xb = need_buffer(c, x, fn, "x");
    c.quantize_into(xb, need_qtensor(c, q, fn).q, quantize_options(opts));
  });
}

lowbit_status lowbit_dequantize(lowbit_context* ctx, const lowbit_qtensor* q, lowbit_dtype out_dtype,
                                lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const QTensor& t = need_qtensor(c, q, fn).q;
    need(out, fn, "out");
    *out = new_handle<lowbit_buffer>(c, c.dequantize(t, to_dtype(out_dtype, fn)));
  });
}

lowbit_status lowbit_dequantize_into(lowbit_context* ctx, const lowbit_qtensor* q, lowbit_buffer* out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const QTensor& t = need_qtensor(c, q, fn).q;
    need_buffer(c, out, fn, "out");
    c.dequantize_into(t, out->buf);
  });
}

lowbit_status lowbit_qtensor_alloc(lowbit_context* ctx, lowbit_format format, const int64_t* shape, size_t rank,
                                   bool packed, lowbit_qtensor** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    need(out, fn, "out");
    *out = new_handle<lowbit_qtensor>(c, c.alloc_qtensor(to_format(format, fn), to_shape(shape, rank, fn),
                                                         packed));
  });
}

lowbit_status lowbit_qtensor_wrap(lowbit_format format, bool packed, const int64_t* shape, size_t rank,
                                  const lowbit_buffer* codes, const lowbit_buffer* scales,
                                  const lowbit_buffer* tensor_scale, lowbit_qtensor** out) {
  return guarded(__func__, [&](const char* fn) {
    const Context& owner = need(codes, fn, "codes").owner;
    need(out, fn, "out");
    QTensor q;
    q.format = to_format(format, fn);
    q.packed = packed;
    q.shape = to_shape(shape, rank, fn);
    q.codes = codes->buf;
    q.scales = optional_buffer(owner, scales, fn, "scales");
    q.tensor_scale = optional_buffer(owner, tensor_scale, fn, "tensor_scale");
    *out = new_handle<lowbit_qtensor>(owner, std::move(q));
  });
}

lowbit_status lowbit_qtensor_destroy(lowbit_qtensor* q) {
  return guarded(__func__, [&](const char*) { delete q; });
}

lowbit_status lowbit_qtensor_format(const lowbit_qtensor* q, lowbit_format* format, bool* packed) {
  return guarded(__func__, [&](const char* fn) {
    const QTensor& t = need(q, fn, "q").q;
    need(format, fn, "format") = static_cast<lowbit_format>(t.format);
    need(packed, fn, "packed") = t.packed;
  });
}

lowbit_status lowbit_qtensor_codes(const lowbit_qtensor* q, lowbit_buffer** out) {
  return part(q, &QTensor::codes, out, __func__);
}
lowbit_status lowbit_qtensor_scales(const lowbit_qtensor* q, lowbit_buffer** out) {
  return part(q, &QTensor::scales, out, __func__);
}
lowbit_status lowbit_qtensor_tensor_scale(const lowbit_qtensor* q, lowbit_buffer** out) {
  return part(q, &QTensor::tensor_scale, out, __func__);
}

lowbit_status lowbit_format_name(lowbit_format format, const char** out) {
  return guarded(__func__, [&](const char* fn) { need(out, fn, "out") = format_info(to_format(format, fn)).name; });
}

lowbit_status lowbit_format_parse(const char* name, lowbit_format* out) {
  return guarded(__func__, [&](const char* fn) {
    need(name, fn, "name");
    Format f = parse_format(name);
    need(out, fn, "out") = static_cast<lowbit_format>(f);
  });
}

lowbit_status lowbit_format_packed_row_bytes(lowbit_format format, uint64_t n, uint64_t* out) {
  return guarded(__func__, [&](const char* fn) { need(out, fn, "out") = packed_row_bytes(to_format(format, fn), n); });
}

lowbit_status lowbit_format_scales_per_row(lowbit_format format, uint64_t n, uint64_t* out) {
  return guarded(__func__, [&](const char* fn) { need(out, fn, "out") = scales_per_row(to_format(format, fn), n); });
}

}  // extern "C"
