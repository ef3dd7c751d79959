// c_gemm.cpp — C API: linear layers: gemm_f16, int4 layers (sizes, RTN quantization into caller arrays,
// upload from lowbit's layout), gemm_w4a16, and the launch the last GEMM used.
#include <algorithm>
#include <cstring>

#include "host/c_api/c_boundary.hpp"

using namespace lowbit;
using namespace lowbit::c_api;

namespace {

// The sizes of a layer's host arrays, with n and k bounded as a checkpoint's are.
W4Host layout_of(int64_t n, int64_t k, int32_t group, bool sym, const char* fn) {
  if (n > INT32_MAX || k > INT32_MAX)
    invalid(fn, "layer shape N=" + std::to_string(n) + " K=" + std::to_string(k) + " exceeds 2^31 - 1");
  return w4_layout(n, k, group, sym);
}

size_t zeros_count(const W4Host& w) { return w.sym ? 0 : size_t(w.groups() * w.n); }

}  // namespace

extern "C" {

lowbit_status lowbit_gemm_options_init(lowbit_gemm_options* o) {
  return guarded(__func__, [&](const char* fn) {
    GemmOptions g;
    need(o, fn, "options") = lowbit_gemm_options{static_cast<lowbit_gemm_path>(g.path),
                                                       static_cast<lowbit_dtype>(g.out), g.split_k, g.stages};
  });
}

lowbit_status lowbit_gemm_f16(lowbit_context* ctx, const lowbit_buffer* x, const lowbit_buffer* w,
                              const lowbit_buffer* bias, const lowbit_gemm_options* opts, lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& xb = need_buffer(c, x, fn, "x");
    const Buffer& wb = need_buffer(c, w, fn, "w");
    Buffer bb = optional_buffer(c, bias, fn, "bias");
    need(out, fn, "out");
    *out = new_handle<lowbit_buffer>(c, c.gemm_f16(xb, wb, bb, gemm_options(opts, fn)));
  });
}

lowbit_status lowbit_w4_sizes(int64_t n, int64_t k, int32_t group, bool sym, int32_t* group_out,
                              size_t* qweight_words, size_t* scales_count, size_t* zeros_out) {
  return guarded(__func__, [&](const char* fn) {
    W4Host w = layout_of(n, k, group, sym, fn);
    if (group_out) *group_out = w.group;
    if (qweight_words) *qweight_words = size_t(w.k_words() * w.n);
    if (scales_count) *scales_count = size_t(w.groups() * w.n);
    if (zeros_out) *zeros_out = zeros_count(w);
  });
}

lowbit_status lowbit_w4_quantize_rtn(const float* w, int64_t n, int64_t k, int32_t group, bool sym, uint32_t* qweight,
                                     size_t qweight_words, uint16_t* scales, size_t scales_count, uint8_t* zeros,
                                     size_t zeros_len) {
  return guarded(__func__, [&](const char* fn) {
    need(w, fn, "w");
    layout_of(n, k, group, sym, fn);
    W4Host h = quantize_w4_rtn(w, n, k, group, sym);
    give(h.qweight, qweight, qweight_words, fn, "qweight");
    give(h.scales, scales, scales_count, fn, "scales");
    give(h.zeros, zeros, zeros_len, fn, "zeros");
  });
}

lowbit_status lowbit_w4_upload(lowbit_context* ctx, const lowbit_w4_host* host, const uint16_t* bias_f16,
                               lowbit_w4_layer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const lowbit_w4_host& src = need(host, fn, "host");
    need(out, fn, "out");
    W4Host h = layout_of(src.n, src.k, src.group, src.sym, fn);
    take(h.qweight, src.qweight, size_t(h.k_words() * h.n), fn, "qweight");
    take(h.scales, src.scales, size_t(h.groups() * h.n), fn, "scales");
    take(h.zeros, src.zeros, zeros_count(h), fn, "zeros");
    if (src.perm) take(h.perm, src.perm, size_t(h.k), fn, "perm");
    std::vector<uint16_t> bias;
    if (bias_f16) take(bias, bias_f16, size_t(h.n), fn, "bias_f16");
    *out = new_handle<lowbit_w4_layer>(c, c.upload_w4(h, bias));
  });
}

lowbit_status lowbit_w4_layer_destroy(lowbit_w4_layer* layer) {
  return guarded(__func__, [&](const char*) { delete layer; });
}

lowbit_status lowbit_gemm_w4a16(lowbit_context* ctx, const lowbit_buffer* x, const lowbit_w4_layer* layer,
                                const lowbit_gemm_options* opts, lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& xb = need_buffer(c, x, fn, "x");
    same_context(c, need(layer, fn, "layer").owner, fn, "layer");
    need(out, fn, "out");
    *out = new_handle<lowbit_buffer>(c, c.gemm_w4a16(xb, layer->layer, gemm_options(opts, fn)));
  });
}

lowbit_status lowbit_choose_gemm_path(const lowbit_context* ctx, int64_t m, lowbit_gemm_path* out) {
  return guarded(__func__, [&](const char* fn) {
    GemmPath p = need(ctx, fn, "ctx").ctx.choose_gemm_path(m);
    need(out, fn, "out") = static_cast<lowbit_gemm_path>(p);
  });
}

lowbit_status lowbit_last_gemm_launch(const lowbit_context* ctx, lowbit_gemm_launch* out) {
  return guarded(__func__, [&](const char* fn) {
    GemmLaunch g = need(ctx, fn, "ctx").ctx.last_gemm_launch();
    lowbit_gemm_launch l{};
    std::strncpy(l.kernel, g.kernel.c_str(), sizeof l.kernel - 1);
    l.workgroups = g.workgroups;
    l.invocations_per_workgroup = g.invocations_per_workgroup;
    l.shared_bytes = g.shared_bytes;
    l.stages = g.stages;
    l.split_k = g.split_k;
    l.k_partitions = g.k_partitions;
    need(out, fn, "out") = l;
  });
}

}  // extern "C"
