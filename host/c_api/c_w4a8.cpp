// c_w4a8.cpp — C API: W4A8: per-token int8 activation quantization, QoQ layers (sizes, quantization into
// caller arrays, upload from lowbit's layout) and gemm_w4a8.
#include <cstring>

#include "host/c_api/c_boundary.hpp"

using namespace lowbit;
using namespace lowbit::c_api;

namespace {

// The layout of a QoQ layer with its n bounded as a checkpoint's is (k is bounded by kW4A8MaxK).
QoqHost qoq_layout_of(int64_t n, int64_t k, int32_t group, const char* fn) {
  if (n > INT32_MAX) invalid(fn, "layer shape N=" + std::to_string(n) + " exceeds 2^31 - 1");
  try {
    return qoq_layout(n, k, group);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::InvalidArgument) throw;
    invalid(fn, e.what());
  }
}

size_t level2_count(const QoqHost& h) { return h.per_channel ? 0 : size_t(h.groups() * h.n); }

}  // namespace

extern "C" {

lowbit_status lowbit_act_quant_options_init(lowbit_act_quant_options* o) {
  return guarded(__func__, [&](const char* fn) {
    need(o, fn, "options") = lowbit_act_quant_options{nullptr, ActQuantOptions{}.eps};
  });
}

lowbit_status lowbit_quantize_activations_int8(lowbit_context* ctx, const lowbit_buffer* x,
                                               const lowbit_act_quant_options* opts, lowbit_act_int8** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& xb = need_buffer(c, x, fn, "x");
    ActQuantOptions o;
    if (opts) {
      o.rms_weight = optional_buffer(c, opts->rms_weight, fn, "rms_weight");
      o.eps = opts->eps;
    }
    need(out, fn, "out");
    *out = new_handle<lowbit_act_int8>(c, c.quantize_activations_int8(xb, o));
  });
}

lowbit_status lowbit_act_int8_buffers(const lowbit_act_int8* a, lowbit_buffer** codes, lowbit_buffer** scales,
                                      lowbit_buffer** sums) {
  return guarded(__func__, [&](const char* fn) {
    const lowbit_act_int8& act = need(a, fn, "act");
    if (!codes && !scales && !sums) invalid(fn, "codes, scales and sums are all NULL");
    // All three handles or none: a failed allocation leaves every *out alone.
    std::unique_ptr<lowbit_buffer> c, s, u;
    if (codes) c.reset(new_handle<lowbit_buffer>(act.owner, act.act.codes));
    if (scales) s.reset(new_handle<lowbit_buffer>(act.owner, act.act.scales));
    if (sums) u.reset(new_handle<lowbit_buffer>(act.owner, act.act.sums));
    if (codes) *codes = c.release();
    if (scales) *scales = s.release();
    if (sums) *sums = u.release();
  });
}

lowbit_status lowbit_act_int8_destroy(lowbit_act_int8* a) {
  return guarded(__func__, [&](const char*) { delete a; });
}

lowbit_status lowbit_qoq_sizes(int64_t n, int64_t k, int32_t group, int32_t* group_out, bool* per_channel,
                               size_t* qweight_words, size_t* s1_count, size_t* s2_count, size_t* zeros_count) {
  return guarded(__func__, [&](const char* fn) {
    QoqHost h = qoq_layout_of(n, k, group, fn);
    if (group_out) *group_out = h.group;
    if (per_channel) *per_channel = h.per_channel;
    if (qweight_words) *qweight_words = size_t(h.k_words() * h.n);
    if (s1_count) *s1_count = size_t(h.n);
    if (s2_count) *s2_count = level2_count(h);
    if (zeros_count) *zeros_count = level2_count(h);
  });
}

lowbit_status lowbit_qoq_quantize(const float* w, int64_t n, int64_t k, int32_t group, uint32_t* qweight,
                                  size_t qweight_words, uint16_t* s1, size_t s1_count, uint8_t* s2, size_t s2_count,
                                  uint8_t* zeros, size_t zeros_count, lowbit_qoq_report* report) {
  return guarded(__func__, [&](const char* fn) {
    need(w, fn, "w");
    QoqHost layout = qoq_layout_of(n, k, group, fn);
    // Lengths are checked before the (possibly long) quantization.
    auto check_len = [&](size_t len, size_t want, const void* a, const char* name) {
      if (len != want)
        invalid(fn, std::string(name) + " holds " + std::to_string(len) + " elements, the layer needs " +
                        std::to_string(want));
      if (len && !a) invalid(fn, std::string(name) + " is NULL");
    };
    check_len(qweight_words, size_t(layout.k_words() * layout.n), qweight, "qweight");
    check_len(s1_count, size_t(layout.n), s1, "s1");
    check_len(s2_count, level2_count(layout), s2, "s2");
    check_len(zeros_count, level2_count(layout), zeros, "zeros");
    QoqReport rep;
    QoqHost h = quantize_qoq(w, n, k, group, &rep);
    give(h.qweight, qweight, qweight_words, fn, "qweight");
    give(h.s1, s1, s1_count, fn, "s1");
    give(h.s2, s2, s2_count, fn, "s2");
    give(h.zeros, zeros, zeros_count, fn, "zeros");
    if (report) *report = lowbit_qoq_report{rep.level1_clamped, rep.s1_overflow};
  });
}

lowbit_status lowbit_qoq_upload(lowbit_context* ctx, const lowbit_qoq_host* host, const uint16_t* bias_f16,
                                lowbit_w4a8_layer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const lowbit_qoq_host& src = need(host, fn, "host");
    need(out, fn, "out");
    QoqHost h = qoq_layout_of(src.n, src.k, src.per_channel ? -1 : src.group, fn);
    if (!src.per_channel && h.per_channel)
      invalid(fn, "group " + std::to_string(src.group) + " means per channel, but per_channel is false");
    if (src.per_channel && src.group != h.group && src.group != -1 && src.group != 0)
      invalid(fn, "per_channel layer with group " + std::to_string(src.group) + " (expected K = " +
                      std::to_string(h.k) + " or -1)");
    take(h.qweight, src.qweight, size_t(h.k_words() * h.n), fn, "qweight");
    take(h.s1, src.s1, size_t(h.n), fn, "s1");
    take(h.s2, src.s2, level2_count(h), fn, "s2");
    take(h.zeros, src.zeros, level2_count(h), fn, "zeros");
    std::vector<uint16_t> bias;
    if (bias_f16) take(bias, bias_f16, size_t(h.n), fn, "bias_f16");
    *out = new_handle<lowbit_w4a8_layer>(c, c.upload_qoq(h, bias));
  });
}

lowbit_status lowbit_w4a8_layer_destroy(lowbit_w4a8_layer* layer) {
  return guarded(__func__, [&](const char*) { delete layer; });
}

lowbit_status lowbit_gemm_w4a8(lowbit_context* ctx, const lowbit_act_int8* a, const lowbit_w4a8_layer* layer,
                               const lowbit_gemm_options* opts, lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    same_context(c, need(a, fn, "act").owner, fn, "act");
    same_context(c, need(layer, fn, "layer").owner, fn, "layer");
    need(out, fn, "out");
    *out = new_handle<lowbit_buffer>(c, c.gemm_w4a8(a->act, layer->layer, gemm_options(opts, fn)));
  });
}

}  // extern "C"
