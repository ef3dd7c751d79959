// runners.cpp — the op registry and run_bench (roofline first, then the op and its same-run peers),
// the copy / GEMM / convert runners and the flag-list parsers.
#include "bench/runners.hpp"

#include <bit>
#include <cstring>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>

#include "lowbit_formats.h"

namespace lowbit::bench {

// ---- parsing ------------------------------------------------------------------------------------
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) v.push_back(item);
  return v;
}

std::vector<int> parse_int_list(const std::string& s, const char* what) {
  std::vector<int> v;
  for (const auto& item : split_list(s)) {
    size_t used = 0;
    int x = 0;
    try {
      x = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || x <= 0)
      throw Error(ErrorCode::InvalidArgument, std::string(what) + ": '" + item + "' is not a positive integer");
    v.push_back(x);
  }
  if (v.empty()) throw Error(ErrorCode::InvalidArgument, std::string(what) + ": empty list");
  return v;
}

std::vector<GemmShape> parse_shapes(const std::string& s, bool allow_pairs) {
  std::vector<GemmShape> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ';')) {
    if (item.empty()) continue;
    long a = 0, b = 0, c = 0;
    char tail = 0;
    int got = std::sscanf(item.c_str(), "%ld,%ld,%ld%c", &a, &b, &c, &tail);
    if (got == 3 && a > 0 && b > 0 && c > 0) {
      v.push_back({a, b, c});
    } else if (allow_pairs && got == 2 && a > 0 && b > 0) {
      v.push_back({0, a, b});
    } else {
      throw Error(ErrorCode::InvalidArgument, "--shapes: bad shape '" + item + "' (expected M,N,K with positive integers" +
                                                  (allow_pairs ? std::string(", or ROWS,COLS)") : std::string(")")));
    }
  }
  if (v.empty()) throw Error(ErrorCode::InvalidArgument, "--shapes: no shape given");
  return v;
}

// ---- helpers ------------------------------------------------------------------------------------
std::vector<float> random_f32(size_t n, uint32_t seed, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

std::vector<uint16_t> to_f16(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(v[i])));
  return h;
}

std::vector<uint16_t> random_f16(size_t n, uint32_t seed, float sd) { return to_f16(random_f32(n, seed, sd)); }

const Result& error_row(Session& s, Result r, const Error& e) {
  if (e.code() != ErrorCode::Unsupported && e.code() != ErrorCode::OutOfMemory) throw e;
  r.backend = to_string(s.ctx.backend());
  r.error = e.what();
  s.results.push_back(std::move(r));
  if (s.progress) s.progress(s.results.back());
  return s.results.back();
}

Stats time_in(Session& s, const std::function<void()>& fn) {
  return time_op(s.ctx, fn, s.o.warmup, s.o.iters, s.flush, s.warmup_ms);
}

namespace {

// measure / measure_paired: `time` runs the op (fn last) and fills r's stats.
const Result& measure_with(Session& s, Result r, const std::function<void(Result&)>& time) {
  r.backend = to_string(s.ctx.backend());
  const uint64_t lookups = s.ctx.last_kernel_choice().serial;
  try {
    time(r);
    if (r.op == "attention") r.kernel = s.ctx.last_attention_kernel();
    // An op that looked its launch configuration up: the row says which, and where it came from.
    const KernelChoice ch = s.ctx.last_kernel_choice();
    if (ch.serial != lookups) {
      r.config = ch.family + (ch.config.empty() ? "" : " " + to_string(ch.config));
      r.config_source = ch.source;
    }
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unsupported && e.code() != ErrorCode::OutOfMemory) throw;
    r.error = e.what();
  }
  s.results.push_back(std::move(r));
  if (s.progress) s.progress(s.results.back());
  return s.results.back();
}

}  // namespace

const Result& measure(Session& s, Result r, const std::function<void()>& fn) {
  return measure_with(s, std::move(r), [&](Result& row) { row.stats = time_in(s, fn); });
}

const Result& measure_paired(Session& s, Result r, const std::function<void()>& base, const std::function<void()>& fn) {
  return measure_with(s, std::move(r), [&](Result& row) {
    const std::vector<Stats> st = time_interleaved(s.ctx, {base, fn}, s.o.warmup, s.o.iters, s.flush, s.warmup_ms);
    row.f16_ms = st[0].median_ms;
    row.f16_paired = true;
    row.stats = st[1];  // fn ran last: the kernel choice read above is fn's
  });
}

// ---- copy ---------------------------------------------------------------------------------------
void run_copy(Session& s) {
  uint64_t size = std::min<uint64_t>(s.o.copy_bytes, s.ctx.device_info().max_buffer_range) / 16 * 16;
  Result r;
  r.op = "copy";
  r.shape = {{"m", 1}, {"n", size}, {"k", 1}, {"size_bytes", size}};
  r.config = "device copy";
  r.config_source = "fixed";
  r.work = copy_work(size);
  try {
    Buffer src = s.ctx.alloc(DType::U8, {int64_t(size)}), dst = s.ctx.alloc(DType::U8, {int64_t(size)});
    measure(s, r, [&] { s.ctx.copy(src, dst); });
  } catch (const Error& e) {
    if (e.code() != ErrorCode::OutOfMemory) throw;
    r.backend = to_string(s.ctx.backend());
    r.error = e.what();
    s.results.push_back(r);
    if (s.progress) s.progress(r);
  }
}

// ---- GEMM ---------------------------------------------------------------------------------------
namespace {

// One layer's weights in every form the GEMM rows need, built once per (N, K).
struct GemmWeights {
  int64_t n = -1, k = -1;
  W4Layer w4;
  W4A8Layer qoq;          // --op w4a8: QoQ weights of the same shape
  Buffer f16;             // fp16 of the dequantized int4 weights (same values as w4)
  std::vector<float> f32;  // the same, for CLBlast (kept only when asked for)
};

// need_w4: also the int4 layer (else the fp16 rows use the random weights as they are).
void build_weights(Session& s, const GemmShape& sh, GemmWeights& w, bool need_w4) {
  if (w.n == sh.n && w.k == sh.k) return;
  auto dq = random_f32(size_t(sh.n * sh.k), 1, 0.02f);
  if (need_w4) {
    if (sh.k % s.o.group)
      throw Error(ErrorCode::InvalidArgument, "--group " + std::to_string(s.o.group) + " does not divide K = " +
                                                  std::to_string(sh.k));
    W4Host h = quantize_w4_rtn(dq.data(), sh.n, sh.k, s.o.group, true);
    w.w4 = s.ctx.upload_w4(h);
    dq = dequantize_w4(h);
  }
  auto dq16 = to_f16(dq);
  w.f16 = s.ctx.upload(DType::F16, {sh.n, sh.k}, dq16.data(), dq16.size() * 2);
  bool clblast = false;
  for (const auto& b : s.o.baselines) clblast = clblast || b == "clblast";
  w.f32 = clblast ? std::move(dq) : std::vector<float>{};
  w.n = sh.n, w.k = sh.k;
}

Result gemm_row(Session& s, const char* op, const GemmShape& sh, Work work) {
  Result r;
  r.op = op;
  r.shape = {{"m", sh.m}, {"n", sh.n}, {"k", sh.k}};
  if (std::string(op) != "f16") r.shape["group"] = s.o.group;
  r.config = to_string(s.ctx.choose_gemm_path(sh.m));
  r.config_source = "heuristic";
  r.work = work;
  return r;
}

// The launch geometry of the row just measured (GEMM rows that ran).
void record_launch(Session& s) {
  if (s.results.back().error.empty()) s.results.back().launch = s.ctx.last_gemm_launch();
}

// The W4A16 row for --pipeline: the default K pipeline, the serial variant (stages = 1), or the default with the
// serial run's median beside it (not on the GEMV path, which has no K pipeline). With the fp16 row run
// (`f16`: its GEMM), the two alternate run by run and the row's speed-up compares those runs (f16_paired).
void run_w4a16(Session& s, const GemmShape& sh, const Buffer& x, const W4Layer& w, std::optional<double> f16_ms,
               const std::function<void()>& f16) {
  Result r = gemm_row(s, "w4a16", sh, gemm_w4a16_work(sh.m, sh.n, sh.k, s.o.group, true));
  r.f16_ms = f16_ms;
  GemmOptions opts;
  opts.stages = s.o.pipeline == Pipeline::Serial ? 1 : 0;
  const auto run = [&] { s.ctx.gemm_w4a16(x, w, opts); };
  if (f16_ms && f16)
    measure_paired(s, r, f16, run);
  else
    measure(s, r, run);
  record_launch(s);
  if (s.o.pipeline != Pipeline::Both) return;
  s.results.back().has_serial = true;
  if (!s.results.back().error.empty() || s.ctx.choose_gemm_path(sh.m) == GemmPath::Gemv) return;
  GemmOptions serial;
  serial.stages = 1;
  try {
    s.results.back().serial_ms = time_in(s, [&] { s.ctx.gemm_w4a16(x, w, serial); }).median_ms;
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unsupported && e.code() != ErrorCode::OutOfMemory) throw;  // no pair: nulls
  }
}

// The QoQ layer of the shape: the same random weights as the fp16 / int4 rows, packed by quantize_qoq.
void build_qoq(Session& s, const GemmShape& sh, GemmWeights& w) {
  if (w.qoq.n == sh.n && w.qoq.k == sh.k) return;
  auto wf = random_f32(size_t(sh.n * sh.k), 1, 0.02f);
  w.qoq = s.ctx.upload_qoq(quantize_qoq(wf.data(), sh.n, sh.k, s.o.group));
}

// The W4A8 row: the int8 GEMM alone (activations quantized on the device beforehand, as the W4A16 row's are
// fp16 already),
// with the fp16 and W4A16 rows of the same shape as its peers (speedup_vs_f16, speedup_vs_w4a16).
void run_w4a8(Session& s, const GemmShape& sh, const Buffer& x, const GemmWeights& w, std::optional<double> f16_ms,
              const std::function<void()>& f16) {
  run_w4a16(s, sh, x, w.w4, f16_ms, f16);
  std::optional<double> w4a16_ms;
  if (s.results.back().error.empty()) w4a16_ms = s.results.back().stats.median_ms;
  const ActInt8 a = s.ctx.quantize_activations_int8(x);  // per-token int8 codes of the same activations
  Result r = gemm_row(s, "w4a8", sh, gemm_w4a8_work(sh.m, sh.n, sh.k, s.o.group));
  r.config = sh.m <= 16 ? "gemv" : "tiled";
  r.f16_ms = f16_ms;
  r.w4a16_ms = w4a16_ms;
  measure(s, r, [&] { s.ctx.gemm_w4a8(a, w.qoq); });
  record_launch(s);
}

}  // namespace

void run_gemm(Session& s, const std::string& op) {
  std::vector<GemmShape> shapes = s.o.shapes;
  if (shapes.empty())
    for (auto [n, k] : {std::pair<int64_t, int64_t>{4096, 4096}, {14336, 4096}, {4096, 14336}}) {
      for (int64_t m : {1, 8, 16, 64, 256}) shapes.push_back({m, n, k});
      if (op == "w4a8")  // prefill sizes, where int8 dot products pay most
        for (int64_t m : {512, 1024}) shapes.push_back({m, n, k});
    }
  GemmWeights w;
  for (const auto& sh : shapes) {
    build_weights(s, sh, w, op != "f16");
    if (op == "w4a8") build_qoq(s, sh, w);
    auto xf = random_f32(size_t(sh.m * sh.k), 2, 1.0f);
    auto xh = to_f16(xf);
    Buffer x = s.ctx.upload(DType::F16, {sh.m, sh.k}, xh.data(), xh.size() * 2);
    // Our fp16 GEMM: the op itself for --op f16, else the same-run baseline of every other row.
    const auto f16_gemm = [&] { s.ctx.gemm_f16(x, w.f16); };
    const Result& f16 = measure(s, gemm_row(s, "f16", sh, gemm_f16_work(sh.m, sh.n, sh.k)), f16_gemm);
    std::optional<double> f16_ms;
    if (f16.error.empty()) f16_ms = f16.stats.median_ms;
    s.results.back().f16_ms = f16_ms;
    record_launch(s);
    if (op == "w4a16") run_w4a16(s, sh, x, w.w4, f16_ms, f16_gemm);
    if (op == "w4a8") run_w4a8(s, sh, x, w, f16_ms, f16_gemm);
    for (const auto& b : s.o.baselines)
      if (b == "clblast") run_clblast(s, sh, w.f32, xf, f16_ms.value_or(0));
  }
}

double calibrate_compute_peak(Session& s, const GemmShape& sh) {
  try {
    auto wh = random_f16(size_t(sh.n * sh.k), 3, 0.02f), xh = random_f16(size_t(sh.m * sh.k), 4, 1.0f);
    Buffer w = s.ctx.upload(DType::F16, {sh.n, sh.k}, wh.data(), wh.size() * 2);
    Buffer x = s.ctx.upload(DType::F16, {sh.m, sh.k}, xh.data(), xh.size() * 2);
    GemmPath path = sh.m > 16 ? GemmPath::Auto : GemmPath::Gemv;
    Stats st = time_op(s.ctx, [&] { s.ctx.gemm_f16(x, w, {}, {.path = path}); }, 1, 3);
    return gemm_f16_work(sh.m, sh.n, sh.k).flops / st.median_ms / 1e9;
  } catch (const Error& e) {
    if (e.code() != ErrorCode::Unsupported && e.code() != ErrorCode::OutOfMemory) throw;
    return 0;
  }
}

// ---- convert ------------------------------------------------------------------------------------
void run_convert(Session& s) {
  std::vector<GemmShape> shapes = s.o.shapes;
  if (shapes.empty()) shapes = {{0, 4096, 4096}, {0, 14336, 4096}};
  std::vector<Format> formats;
  for (const auto& f : s.o.formats) formats.push_back(parse_format(f));
  for (const auto& sh : shapes) {
    int64_t rows = sh.n, cols = sh.k;  // a weight [N, K] (or ROWS,COLS)
    // the float side in the requested dtype: fp16 bits, bf16 bits (top half of fp32) or fp32
    DType dt = s.o.convert_dtype == "f16" ? DType::F16 : s.o.convert_dtype == "bf16" ? DType::BF16 : DType::F32;
    auto xh = random_f16(size_t(rows * cols), 5, 1.0f);
    std::vector<uint8_t> host(size_t(rows * cols) * dtype_size(dt));
    for (size_t i = 0; i < xh.size(); ++i) {
      uint32_t f32 = fmt::lb_f16_to_f32(xh[i]);
      if (dt == DType::F16) std::memcpy(&host[2 * i], &xh[i], 2);
      else if (dt == DType::BF16) { uint16_t b = uint16_t(f32 >> 16); std::memcpy(&host[2 * i], &b, 2); }
      else std::memcpy(&host[4 * i], &f32, 4);
    }
    Buffer x = s.ctx.upload(dt, {rows, cols}, host.data(), host.size());
    Buffer back = s.ctx.alloc(dt, {rows, cols});
    for (Format f : formats) {
      QTensor q = s.ctx.alloc_qtensor(f, {rows, cols}, true);
      for (bool quant : {true, false}) {
        Result r;
        r.op = "convert";
        r.shape = {{"m", 0}, {"n", rows}, {"k", cols}, {"format", format_info(f).name},
                   {"direction", quant ? "quantize" : "dequantize"}, {"dtype", s.o.convert_dtype}};
        r.config = "packed";
        r.config_source = "fixed";
        r.work = convert_work(f, true, rows, cols, dt, quant);
        if (quant)
          measure(s, r, [&] { s.ctx.quantize_into(x, q); });
        else
          measure(s, r, [&] { s.ctx.dequantize_into(q, back); });
      }
    }
  }
}

// ---- KV cache rows (attention, kv_append) -------------------------------------------------------
KvCache bench_kv_cache(Session& s, KvFormat f, const AttentionShape& a) {
  KvCacheOptions co;
  co.layers = 1;
  co.page_size = a.page_size;
  co.num_pages = a.batch * ((a.context + a.page_size - 1) / a.page_size);
  co.kv_heads = a.kv_heads;
  co.head_dim = a.head_dim;
  co.format = f;
  return s.ctx.create_kv_cache(co);
}

std::vector<KvFormat> kv_formats(const Options& o) {
  std::vector<KvFormat> formats = {KvFormat::F16};
  for (const auto& name : o.kv_formats) {
    KvFormat f = parse_kv_format(name);
    if (f != KvFormat::F16) formats.push_back(f);
  }
  return formats;
}

void for_each_kv_format(Session& s, const std::function<const Result&(KvFormat, std::optional<double>)>& row) {
  std::optional<double> f16_ms;
  for (KvFormat f : kv_formats(s.o)) {
    const Result& r = row(f, f16_ms);
    if (f == KvFormat::F16 && r.error.empty()) {
      f16_ms = r.stats.median_ms;
      s.results.back().f16_ms = f16_ms;
    }
  }
}

// ---- registry and driver ------------------------------------------------------------------------
namespace {

using Runner = std::function<void(Session&)>;

const std::map<std::string, Runner>& registry() {
  static const std::map<std::string, Runner> r = {
      {"f16", [](Session& s) { run_gemm(s, "f16"); }},
      {"w4a16", [](Session& s) { run_gemm(s, "w4a16"); }},
      {"w4a8", [](Session& s) { run_gemm(s, "w4a8"); }},
      {"attention", run_attention},
      {"kv_append", run_kv_append},
      {"convert", run_convert},
      {"copy", [](Session&) {}},  // the roofline's copy row is the result
  };
  return r;
}

}  // namespace

const std::vector<std::string>& op_names() {
  static const std::vector<std::string> v = {"f16", "w4a16", "w4a8", "attention", "kv_append", "convert", "copy"};
  return v;
}

Pipeline parse_pipeline(const std::string& s) {
  for (Pipeline p : {Pipeline::Pipelined, Pipeline::Serial, Pipeline::Both})
    if (s == to_string(p)) return p;
  throw Error(ErrorCode::InvalidArgument, "--pipeline: unknown mode '" + s + "' (expected pipelined|serial|both)");
}

const char* to_string(Pipeline p) {
  switch (p) {
    case Pipeline::Serial: return "serial";
    case Pipeline::Both: return "both";
    default: return "pipelined";
  }
}

void check_op(const std::string& op) {
  if (!registry().count(op)) {
    std::string names;
    for (const auto& n : op_names()) names += (names.empty() ? "" : "|") + n;
    throw Error(ErrorCode::InvalidArgument, "--op: unknown op '" + op + "' (expected " + names + ")");
  }
}

Report run_bench(Context& ctx, const Options& o, const std::function<void(const Result&)>& progress) {
  check_op(o.op);
  if (o.warmup < 0 || o.iters < 1) throw Error(ErrorCode::InvalidArgument, "--iters must be >= 1 and --warmup >= 0");
  for (const auto& b : o.baselines) {
    if (b != "clblast") throw Error(ErrorCode::InvalidArgument, "--baseline: unknown peer '" + b + "' (expected clblast)");
    if (o.op != "f16" && o.op != "w4a16")
      throw Error(ErrorCode::InvalidArgument, "--baseline clblast applies to the GEMM ops (f16, w4a16)");
    if (ctx.backend() != Backend::OpenCL)
      throw Error(ErrorCode::InvalidArgument, "--baseline clblast needs --backend opencl");
    if (!clblast_built())
      throw Error(ErrorCode::Unsupported,
                  "--baseline clblast: this lowbit was built without CLBlast (install libclblast-dev and reconfigure)");
  }
  Report rep;
  rep.device = ctx.device_info();
  rep.warmup = o.warmup, rep.iters = o.iters;
  rep.pipeline = to_string(o.pipeline);
  Session s{ctx, o, rep.results, progress, {}, 0};
  s.warmup_ms = o.warmup_ms >= 0 ? o.warmup_ms : default_warmup_ms(ctx.device_info());
  rep.warmup_ms = s.warmup_ms;
  // The flush reads N bytes and writes a few KiB: an fp16 GEMV (M = 1) over N bytes of weights. A copy
  // would leave the L2 full of its destination's dirty lines, whose write-back the timed op would then pay
  // (up to an L2 of extra DRAM writes). Its buffers live for the whole run; the copy row is timed without.
  Buffer flush_w, flush_x;
  if (o.flush_bytes > 0) {
    const int64_t k = 4096;
    const uint64_t n = std::min<uint64_t>(o.flush_bytes, ctx.device_info().max_buffer_range);
    const int64_t rows = std::max<int64_t>(1, int64_t(n / (2 * k)));
    const std::vector<uint16_t> zeros(size_t(k), 0);
    flush_w = ctx.alloc(DType::F16, {rows, k});
    flush_x = ctx.upload(DType::F16, {1, k}, zeros.data(), zeros.size() * 2);
    rep.flush_bytes = uint64_t(rows) * k * 2;
  }

  // Roofline bandwidth first: the copy row.
  run_copy(s);
  const Result& copy = rep.results.back();
  if (copy.error.empty()) {
    rep.roofline.peak_gbps = copy.work.bytes / copy.stats.median_ms / 1e6;
    rep.roofline.gbps_source = "copy of " + std::to_string(copy.shape["size_bytes"].get<uint64_t>() >> 20) + " MiB";
  } else {
    rep.roofline.gbps_source = "unavailable: " + copy.error;
  }

  if (o.flush_bytes > 0) s.flush = [&] { ctx.gemm_f16(flush_x, flush_w); };
  registry().at(o.op)(s);

  // Compute peak: the best GEMM of the run, or the calibration GEMM if better.
  if (o.op != "copy" && o.op != "convert" && o.op != "kv_append") {
    double best = 0;
    std::string src;
    for (const auto& r : rep.results)
      if (r.error.empty() && r.work.flops > 0 && (r.op == "f16" || r.op == "w4a16" || r.op == "clblast")) {
        double t = r.work.flops / r.stats.median_ms / 1e9;
        if (t > best) best = t, src = r.op + " GEMM " + std::to_string(r.shape["m"].get<int64_t>()) + "x" +
                                      std::to_string(r.shape["n"].get<int64_t>()) + "x" +
                                      std::to_string(r.shape["k"].get<int64_t>());
      }
    if (o.peak_shape.m > 0) {
      double t = calibrate_compute_peak(s, o.peak_shape);
      if (t > best)
        best = t, src = "f16 GEMM " + std::to_string(o.peak_shape.m) + "x" + std::to_string(o.peak_shape.n) + "x" +
                        std::to_string(o.peak_shape.k) + " (calibration)";
    }
    rep.roofline.peak_tflops = best;
    rep.roofline.tflops_source = best > 0 ? src : "unavailable (no GEMM ran)";
  } else {
    rep.roofline.tflops_source = "not measured (op has no flops)";
  }
  return rep;
}

}  // namespace lowbit::bench
