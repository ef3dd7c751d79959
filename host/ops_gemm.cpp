// ops_gemm.cpp — gemm_f16 / gemm_w4a16 / gemm_w4a8 entry points: shape and dtype checks, act_order gather,
// path choice (GEMV for small M, tiled otherwise, cooperative matrix where the device has it).
#include "backend/deterministic.hpp"
#include "autotune/tuning_state.hpp"
#include "backend/device.hpp"
#include "lowbit_formats.h"
#include "host/device_call.hpp"

namespace lowbit {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, s); }

void expect(const Buffer& b, DType t, const Shape& s, const char* name) {
  if (!b.valid()) bad(std::string(name) + ": missing buffer");
  if (b.dtype() != t || b.shape() != s)
    bad(std::string(name) + ": expected " + to_string(t) + " " + shape_str(s) + ", got " + to_string(b.dtype()) + " " +
        shape_str(b.shape()));
}

// An optional bias: float16 or float32 [n] (the epilogue adds it in fp32 either way).
void check_bias(const Buffer& b, int64_t n, const char* name) {
  if (!b.valid()) return;
  expect(b, b.dtype() == DType::F32 ? DType::F32 : DType::F16, {n}, name);
}

int out_elem(DType t) {
  if (t == DType::F16) return LB_FMT_F16;
  if (t == DType::F32) return LB_FMT_F32;
  bad(std::string("gemm output must be float16 or float32, got ") + to_string(t));
}

// M and K of an activation matrix x [M, K] (fp16).
void activation_shape(const Buffer& x, int64_t k, int64_t& m) {
  if (!x.valid() || x.dtype() != DType::F16 || x.shape().size() != 2)
    bad("gemm: x must be a float16 [M, K] matrix, got " + (x.valid() ? std::string(to_string(x.dtype())) + " " + shape_str(x.shape()) : std::string("nothing")));
  if (x.shape()[1] != k)
    bad("gemm: x has K = " + std::to_string(x.shape()[1]) + " but the layer expects K = " + std::to_string(k));
  m = x.shape()[0];
  if (m <= 0) bad("gemm: x has no rows");
}

void check_options(const GemmOptions& o) {
  if (o.split_k < 0) bad("gemm: split_k must be >= 0 (0 = automatic), got " + std::to_string(o.split_k));
  if (o.stages < 0 || o.stages > 4) bad("gemm: stages must be 0 (default) or 1..4, got " + std::to_string(o.stages));
}

// The launch configuration of a resolved GEMM (tuning database -> shipped -> heuristic); explicit
// GemmOptions split_k / stages win over the tuned ones.
void choose_gemm_config(detail::Device& dev, detail::GemmArgs& a) {
  const char* path = a.path == GemmPath::Gemv ? "gemv" : a.path == GemmPath::Tiled ? "tiled" : "coopmat";
  const std::string family = std::string(path) + (a.w4 ? "_w4" : "_f16");
  const std::string format = a.w4 ? "g" + std::to_string(a.group) : "f16";
  a.config = detail::choose_config(dev, family, format, {.m = int64_t(a.m), .n = int64_t(a.n), .k = int64_t(a.k)}).config;
  // Deterministic mode fixed the path and the K slices (resolve_launch); a tuned split may not change them
  // (tile and pipeline depth may: they keep each output's K order).
  if (a.deterministic && !detail::deterministic_gemm_allowed(a.path, a.config.split ? a.config.split : a.split_k, a.k))
    a.config.split = 0;
  if (a.split_k == 0) a.split_k = a.config.split;
  if (a.stages == 0) a.stages = a.config.stages;
}

}  // namespace

const char* to_string(GemmPath p) {
  switch (p) {
    case GemmPath::Auto: return "auto";
    case GemmPath::Gemv: return "gemv";
    case GemmPath::Tiled: return "tiled";
    case GemmPath::CoopMatrix: return "coopmat";
  }
  return "?";
}

GemmPath Context::choose_gemm_path(int64_t m) const {
  if (dev_->deterministic()) return GemmPath::Tiled;
  if (m <= 16) return GemmPath::Gemv;
  return dev_->supports(GemmPath::CoopMatrix) ? GemmPath::CoopMatrix : GemmPath::Tiled;
}

GemmLaunch Context::last_gemm_launch() const {
  detail::DeviceCall call(*dev_);
  return dev_->last_gemm_launch();
}

static GemmPath resolve(const Context& c, detail::Device& d, GemmPath p, int64_t m) {
  if (p == GemmPath::Auto) return c.choose_gemm_path(m);
  if (p == GemmPath::Gemv && m > 16) bad("gemm: the GEMV path takes M <= 16 rows, got M = " + std::to_string(m));
  if (!d.supports(p))
    throw Error(ErrorCode::Unsupported, std::string("gemm path ") + to_string(p) + " is not available on " + d.info().name);
  return p;
}

// Path and K slices of a GEMM: the request, or the automatic choice; in deterministic mode the fixed ones
// (backend/deterministic.hpp), and a request for anything else is an error rather than silently ignored.
static void resolve_launch(const Context& c, detail::Device& d, const GemmOptions& o, int64_t m, detail::GemmArgs& a) {
  check_options(o);
  a.stages = o.stages;
  if (!d.deterministic()) {
    a.path = resolve(c, d, o.path, m);
    a.split_k = o.split_k;
    return;
  }
  const int split = detail::deterministic_split_k(a.k);
  if (o.path != GemmPath::Auto && o.path != GemmPath::Tiled)
    bad(std::string("gemm: deterministic mode runs every GEMM on the tiled path; path ") + to_string(o.path) +
        " was asked");
  if (o.split_k != 0 && o.split_k != split)
    bad("gemm: deterministic mode cuts K = " + std::to_string(a.k) + " into " + std::to_string(split) +
        " slices; split_k = " + std::to_string(o.split_k) + " was asked");
  a.path = GemmPath::Tiled;
  a.split_k = split;
  a.deterministic = true;
}

Buffer Context::gemm_f16(const Buffer& x, const Buffer& w, const Buffer& bias, const GemmOptions& o) {
  detail::DeviceCall call(*dev_);
  if (!w.valid() || w.dtype() != DType::F16 || w.shape().size() != 2)
    bad("gemm_f16: w must be a float16 [N, K] matrix");
  int64_t n = w.shape()[0], k = w.shape()[1], m;
  activation_shape(x, k, m);
  check_bias(bias, n, "gemm_f16 bias");
  detail::GemmArgs a;
  a.x = x.mem().get();
  a.w = w.mem().get();
  a.bias = bias.valid() ? bias.mem().get() : nullptr;
  a.bias_f32 = bias.valid() && bias.dtype() == DType::F32;
  a.out_elem = out_elem(o.out);
  a.m = uint64_t(m), a.n = uint64_t(n), a.k = uint64_t(k);
  resolve_launch(*this, *dev_, o, m, a);
  choose_gemm_config(*dev_, a);
  Buffer y = alloc_buffer(o.out, {m, n}, true);  // the result: from the pool
  a.y = y.mem().get();
  dev_->gemm(a);
  return y;
}

W4Layer Context::upload_w4(const W4Host& h, const std::vector<uint16_t>& bias) {
  validate_w4(h);
  if (!bias.empty() && bias.size() != size_t(h.n))
    bad("w4 layer: bias has " + std::to_string(bias.size()) + " entries, expected N = " + std::to_string(h.n));
  W4Layer l;
  l.n = h.n, l.k = h.k, l.group = h.group, l.sym = h.sym;
  l.qweight = upload(DType::U32, {h.k_words(), h.n}, h.qweight.data(), h.qweight.size() * 4);
  l.scales = upload(DType::F16, {h.groups(), h.n}, h.scales.data(), h.scales.size() * 2);
  if (!h.sym) l.zeros = upload(DType::U8, {h.groups(), h.n}, h.zeros.data(), h.zeros.size());
  if (!h.perm.empty()) l.perm = upload(DType::I32, {h.k}, h.perm.data(), h.perm.size() * 4);
  if (!bias.empty()) l.bias = upload(DType::F16, {h.n}, bias.data(), bias.size() * 2);
  return l;
}

Buffer Context::gemm_w4a16(const Buffer& x, const W4Layer& w, const GemmOptions& o) {
  detail::DeviceCall call(*dev_);
  int64_t m;
  activation_shape(x, w.k, m);
  if (w.group <= 0 || w.k % w.group) bad("gemm_w4a16: group " + std::to_string(w.group) + " does not divide K");
  expect(w.qweight, DType::U32, {(w.k + 7) / 8, w.n}, "gemm_w4a16 qweight");
  expect(w.scales, DType::F16, {w.k / w.group, w.n}, "gemm_w4a16 scales");
  if (!w.sym) expect(w.zeros, DType::U8, {w.k / w.group, w.n}, "gemm_w4a16 zeros");
  check_bias(w.bias, w.n, "gemm_w4a16 bias");
  Buffer xin = x;
  if (w.perm.valid()) {
    expect(w.perm, DType::I32, {w.k}, "gemm_w4a16 perm");
    xin = alloc_buffer(DType::F16, {m, w.k}, true);  // scratch: from the pool
    detail::GatherArgs g{x.mem().get(), w.perm.mem().get(), xin.mem().get(), uint64_t(m), uint64_t(w.k)};
    dev_->gather_columns(g);
  }
  detail::GemmArgs a;
  a.w4 = true;
  a.x = xin.mem().get();
  a.w = w.qweight.mem().get();
  a.scales = w.scales.mem().get();
  a.zeros = w.sym ? nullptr : w.zeros.mem().get();
  a.bias = w.bias.valid() ? w.bias.mem().get() : nullptr;
  a.bias_f32 = w.bias.valid() && w.bias.dtype() == DType::F32;
  a.out_elem = out_elem(o.out);
  a.m = uint64_t(m), a.n = uint64_t(w.n), a.k = uint64_t(w.k);
  a.group = w.group;
  resolve_launch(*this, *dev_, o, m, a);
  choose_gemm_config(*dev_, a);
  Buffer y = alloc_buffer(o.out, {m, w.n}, true);  // the result: from the pool
  a.y = y.mem().get();
  dev_->gemm(a);
  return y;
}

W4A8Layer Context::upload_qoq(const QoqHost& h, const std::vector<uint16_t>& bias) {
  validate_qoq(h);
  if (!bias.empty() && bias.size() != size_t(h.n))
    bad("w4a8 layer: bias has " + std::to_string(bias.size()) + " entries, expected N = " + std::to_string(h.n));
  W4A8Layer l;
  l.n = h.n, l.k = h.k, l.group = h.group, l.per_channel = h.per_channel;
  l.qweight = upload(DType::U32, {h.k_words(), h.n}, h.qweight.data(), h.qweight.size() * 4);
  l.s1 = upload(DType::F16, {h.n}, h.s1.data(), h.s1.size() * 2);
  // Per-channel layers run the same kernels with s2 = 1 and z = 8.
  std::vector<uint8_t> one, eight;
  if (h.per_channel) one.assign(size_t(h.n), 1), eight.assign(size_t(h.n), 8);
  const std::vector<uint8_t>& s2 = h.per_channel ? one : h.s2;
  const std::vector<uint8_t>& z = h.per_channel ? eight : h.zeros;
  l.s2 = upload(DType::U8, {h.groups(), h.n}, s2.data(), s2.size());
  l.zeros = upload(DType::U8, {h.groups(), h.n}, z.data(), z.size());
  if (!bias.empty()) l.bias = upload(DType::F16, {h.n}, bias.data(), bias.size() * 2);
  return l;
}

Buffer Context::gemm_w4a8(const ActInt8& act, const W4A8Layer& w, const GemmOptions& o) {
  detail::DeviceCall call(*dev_);
  if (!act.codes.valid() || act.codes.dtype() != DType::I8 || act.codes.shape().size() != 2)
    bad("gemm_w4a8: activation codes must be an int8 [M, K] matrix (Context::quantize_activations_int8)");
  int64_t m = act.codes.shape()[0];
  if (act.codes.shape()[1] != w.k)
    bad("gemm_w4a8: activations have K = " + std::to_string(act.codes.shape()[1]) + " but the layer expects K = " +
        std::to_string(w.k));
  if (m <= 0) bad("gemm_w4a8: activations have no rows");
  expect(act.scales, DType::F32, {m}, "gemm_w4a8 activation scales");
  if (w.k > kW4A8MaxK) bad("gemm_w4a8: K = " + std::to_string(w.k) + " exceeds " + std::to_string(kW4A8MaxK) + " (int32 accumulator)");
  if (w.group <= 0 || w.k % w.group) bad("gemm_w4a8: group " + std::to_string(w.group) + " does not divide K");
  expect(w.qweight, DType::U32, {(w.k + 7) / 8, w.n}, "gemm_w4a8 qweight");
  expect(w.s1, DType::F16, {w.n}, "gemm_w4a8 s1");
  expect(w.s2, DType::U8, {w.k / w.group, w.n}, "gemm_w4a8 s2");
  expect(w.zeros, DType::U8, {w.k / w.group, w.n}, "gemm_w4a8 zeros");
  check_bias(w.bias, w.n, "gemm_w4a8 bias");
  check_options(o);
  detail::GemmW4A8Args a;
  a.a = act.codes.mem().get();
  a.a_scale = act.scales.mem().get();
  a.qweight = w.qweight.mem().get();
  a.s1 = w.s1.mem().get();
  a.s2 = w.s2.mem().get();
  a.zeros = w.zeros.mem().get();
  a.bias = w.bias.valid() ? w.bias.mem().get() : nullptr;
  a.bias_f32 = w.bias.valid() && w.bias.dtype() == DType::F32;
  a.out_elem = out_elem(o.out);
  a.m = uint64_t(m), a.n = uint64_t(w.n), a.k = uint64_t(w.k);
  a.group = w.group;
  // Integer dot products have no cooperative-matrix kernel (yet): Auto is GEMV for small M, else tiled.
  if (o.path == GemmPath::CoopMatrix) throw Error(ErrorCode::Unsupported, "gemm_w4a8 has no cooperative-matrix path");
  a.path = o.path == GemmPath::Auto ? (m <= 16 ? GemmPath::Gemv : GemmPath::Tiled) : resolve(*this, *dev_, o.path, m);
  a.split_k = o.split_k;
  // The tuned launch (exact int32 sums: any configuration gives the same bits, deterministic mode included).
  a.config = detail::choose_config(*dev_, a.path == GemmPath::Gemv ? "gemv_w4a8" : "tiled_w4a8", "g" + std::to_string(w.group),
                                   {.m = m, .n = w.n, .k = w.k})
                 .config;
  Buffer y = alloc_buffer(o.out, {m, w.n}, true);  // the result: from the pool
  a.y = y.mem().get();
  dev_->gemm_w4a8(a);
  return y;
}

}  // namespace lowbit
