// tune_ops.cpp — the tunable ops (see tune_ops.hpp): GEMM fp16 / W4A16 / W4A8 on random layers, decode
// and prefill attention over an int8 paged cache, kv_append into one, quantize / dequantize per format.
#include "autotune/tune_ops.hpp"

#include <algorithm>
#include <memory>
#include <sstream>

#include "autotune/tuning_db.hpp"
#include "backend/attention_plan.hpp"
#include "bench/runners.hpp"
#include "host/internal_access.hpp"

namespace lowbit::tune {

namespace {

// Llama-3-8B and Qwen2-7B linear layers (N x K) at decode M = 1, 4, 16 and prefill M = 64, 256, 1024.
std::vector<OpShape> llm_gemm_shapes() {
  std::vector<OpShape> v;
  for (auto [n, k] : {std::pair<int64_t, int64_t>{4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336},
                      {3584, 3584}, {512, 3584}, {18944, 3584}, {3584, 18944}})
    for (int64_t m : {1, 4, 16, 64, 256, 1024}) v.push_back({{m, n, k}});
  return v;
}

std::vector<float> download_f32(Context& ctx, const Buffer& b) { return ctx.download<float>(b); }

// The bytes of `b`, one value each: verification with tolerance 0 then demands identical bytes.
void append_bytes(Context& ctx, const Buffer& b, std::vector<float>& out) {
  if (b.valid())
    for (uint8_t byte : ctx.download<uint8_t>(b)) out.push_back(float(byte));
}

// A GEMM task: fp16 weights, or int4 (group 128, symmetric RTN) of the same random matrix; fp32 output.
TuneTask gemm_task(Context& ctx, const OpShape& s, bool w4) {
  const int64_t m = s.dims[0], n = s.dims[1], k = s.dims[2];
  struct State {
    Buffer x, w, y;
    W4Layer layer;
  };
  auto st = std::make_shared<State>();
  auto wf = bench::random_f32(size_t(n * k), 1, 0.02f);
  const int group = k % 128 == 0 ? 128 : int(k);
  if (w4) {
    W4Host h = quantize_w4_rtn(wf.data(), n, k, group, true);
    st->layer = ctx.upload_w4(h);
  } else {
    auto wh = bench::to_f16(wf);
    st->w = ctx.upload(DType::F16, {n, k}, wh.data(), wh.size() * 2);
  }
  auto xh = bench::random_f16(size_t(m * k), 2, 1.0f);
  st->x = ctx.upload(DType::F16, {m, k}, xh.data(), xh.size() * 2);
  TuneTask t;
  t.label = std::string(w4 ? "w4a16 " : "f16 ") + s.str();
  t.problem = {.m = m, .n = n, .k = k};
  GemmOptions o;
  o.out = DType::F32;
  t.run = [&ctx, st, w4, o](const KernelConfig&) {
    st->y = w4 ? ctx.gemm_w4a16(st->x, st->layer, o) : ctx.gemm_f16(st->x, st->w, {}, o);
  };
  t.output = [&ctx, st] { return download_f32(ctx, st->y); };
  t.tolerance = 2e-3;  // other summation orders (split-K, partitions) differ by a few fp32 roundings per term
  return t;
}

// A W4A8 task: QoQ weights (group 128) of a random matrix, per-token int8 activations quantized once;
// exact int32 sums, so every configuration must give the default's bytes.
TuneTask w4a8_task(Context& ctx, const OpShape& s) {
  const int64_t m = s.dims[0], n = s.dims[1], k = s.dims[2];
  struct State {
    W4A8Layer layer;
    ActInt8 act;
    Buffer y;
  };
  auto st = std::make_shared<State>();
  auto wf = bench::random_f32(size_t(n * k), 1, 0.02f);
  st->layer = ctx.upload_qoq(quantize_qoq(wf.data(), n, k, k % 128 == 0 ? 128 : int(k)));
  auto xh = bench::random_f16(size_t(m * k), 2, 1.0f);
  st->act = ctx.quantize_activations_int8(ctx.upload(DType::F16, {m, k}, xh.data(), xh.size() * 2));
  TuneTask t;
  t.label = "w4a8 " + s.str();
  t.problem = {.m = m, .n = n, .k = k};
  t.run = [&ctx, st](const KernelConfig&) { st->y = ctx.gemm_w4a8(st->act, st->layer, {.out = DType::F32}); };
  t.output = [&ctx, st] {
    std::vector<float> out;
    append_bytes(ctx, st->y, out);
    return out;
  };
  t.tolerance = 0;
  return t;
}

constexpr int kHq = 32, kHkv = 8, kD = 128, kPage = 16;

// A cache of `batch` sequences of `tokens` tokens each (int8), and random fp16 K/V for all of them.
struct KvInputs {
  std::shared_ptr<KvCache> cache;
  std::vector<int> seqs, counts;
  Buffer k, v;
};

std::shared_ptr<KvInputs> kv_inputs(Context& ctx, int64_t batch, int64_t tokens) {
  auto in = std::make_shared<KvInputs>();
  KvCacheOptions co;
  co.layers = 1, co.page_size = kPage, co.kv_heads = kHkv, co.head_dim = kD, co.format = KvFormat::Int8;
  co.num_pages = int(batch * ((tokens + kPage - 1) / kPage));
  in->cache = std::make_shared<KvCache>(ctx.create_kv_cache(co));
  in->counts.assign(static_cast<size_t>(batch), static_cast<int>(tokens));
  for (int64_t b = 0; b < batch; ++b) in->seqs.push_back(in->cache->add_sequence());
  in->cache->extend(in->seqs, in->counts);
  auto kh = bench::random_f16(size_t(batch * tokens * kHkv * kD), 9, 1.0f);
  auto vh = bench::random_f16(kh.size(), 10, 1.0f);
  in->k = ctx.upload(DType::F16, {batch * tokens, kHkv, kD}, kh.data(), kh.size() * 2);
  in->v = ctx.upload(DType::F16, {batch * tokens, kHkv, kD}, vh.data(), vh.size() * 2);
  return in;
}

TuneTask decode_task(Context& ctx, const OpShape& s) {
  const int64_t batch = s.dims[0], context = s.dims[1];
  struct State {
    std::shared_ptr<KvInputs> kv;
    std::vector<int> ones;
    Buffer q, out;
  };
  auto st = std::make_shared<State>();
  st->kv = kv_inputs(ctx, batch, context);
  ctx.kv_append(*st->kv->cache, 0, st->kv->seqs, st->kv->counts, st->kv->k, st->kv->v);
  auto qh = bench::random_f16(size_t(batch * kHq * kD), 11, 1.0f);
  st->q = ctx.upload(DType::F16, {batch, kHq, kD}, qh.data(), qh.size() * 2);
  st->ones.assign(size_t(batch), 1);
  TuneTask t;
  t.label = "attention " + s.str();
  t.problem = {.m = batch, .n = 0, .k = context, .page_size = kPage};
  t.run = [&ctx, st](const KernelConfig&) { st->out = ctx.attention(st->q, *st->kv->cache, 0, st->kv->seqs, st->ones); };
  t.output = [&ctx, st] { return download_f32(ctx, st->out); };
  t.tolerance = 1e-4;  // the split merge reorders an fp32 softmax
  return t;
}

// A causal prefill: `batch` sequences of `tokens` tokens, every token a query.
TuneTask prefill_task(Context& ctx, const OpShape& s) {
  const int64_t batch = s.dims[0], tokens = s.dims[1];
  struct State {
    std::shared_ptr<KvInputs> kv;
    Buffer q, out;
  };
  auto st = std::make_shared<State>();
  st->kv = kv_inputs(ctx, batch, tokens);
  ctx.kv_append(*st->kv->cache, 0, st->kv->seqs, st->kv->counts, st->kv->k, st->kv->v);
  auto qh = bench::random_f16(size_t(batch * tokens * kHq * kD), 12, 1.0f);
  st->q = ctx.upload(DType::F16, {batch * tokens, kHq, kD}, qh.data(), qh.size() * 2);
  TuneTask t;
  t.label = "attention_prefill " + s.str();
  t.problem = {.m = batch * tokens, .n = 0, .k = m_bucket(tokens), .page_size = kPage, .head_dim = kD};
  t.run = [&ctx, st](const KernelConfig&) {
    st->out = ctx.attention(st->q, *st->kv->cache, 0, st->kv->seqs, st->kv->counts);
  };
  t.output = [&ctx, st] { return download_f32(ctx, st->out); };
  t.tolerance = 1e-4;  // other key tiles rescale the fp32 online softmax at other keys
  return t;
}

TuneTask kv_append_task(Context& ctx, const OpShape& s) {
  const int64_t batch = s.dims[0], tokens = s.dims[1];
  std::shared_ptr<KvInputs> st = kv_inputs(ctx, batch, tokens);
  TuneTask t;
  t.label = "kv_append " + s.str();
  t.problem = {.m = batch * tokens, .n = 0, .k = 0, .words = detail::attn::kv_append_max_lanes(kD)};
  t.run = [&ctx, st](const KernelConfig&) { ctx.kv_append(*st->cache, 0, st->seqs, st->counts, st->k, st->v); };
  t.output = [&ctx, st] {  // the cache bytes written: codes, scales and zeros, exactly
    const detail::KvLayerBuffers& l = detail::kv_state(*st->cache).layers.at(0);
    std::vector<float> out;
    for (const Buffer* b : {&l.k, &l.v, &l.k_scale, &l.k_zero, &l.v_scale, &l.v_zero}) append_bytes(ctx, *b, out);
    return out;
  };
  t.tolerance = 0;
  return t;
}

// quantize (fp32 -> codes, packed) or dequantize (packed codes -> fp32) of a ROWS x COLS tensor in the
// shape's format; the bytes written must be the default's.
TuneTask convert_task(Context& ctx, const OpShape& s, bool quantize) {
  const int64_t rows = s.dims[0], cols = s.dims[1];
  const Format f = parse_format(s.variant);
  struct State {
    Buffer x, back;
    QTensor q;
  };
  auto st = std::make_shared<State>();
  auto xf = bench::random_f32(size_t(rows * cols), 5, 1.0f);
  st->x = ctx.upload(DType::F32, {rows, cols}, xf.data(), xf.size() * 4);
  st->back = ctx.alloc(DType::F32, {rows, cols});
  st->q = ctx.alloc_qtensor(f, {rows, cols}, true);
  ctx.quantize_into(st->x, st->q);
  TuneTask t;
  t.label = std::string(quantize ? "quantize " : "dequantize ") + s.str();
  t.problem = {.m = rows, .n = cols, .k = 0, .block = uint32_t(format_info(f).block)};
  t.run = [&ctx, st, quantize](const KernelConfig&) {
    if (quantize) ctx.quantize_into(st->x, st->q);
    else ctx.dequantize_into(st->q, st->back);
  };
  t.output = [&ctx, st, quantize] {
    std::vector<float> out;
    for (const Buffer* b : quantize ? std::vector<const Buffer*>{&st->q.codes, &st->q.scales, &st->q.tensor_scale}
                                    : std::vector<const Buffer*>{&st->back})
      append_bytes(ctx, *b, out);
    return out;
  };
  t.tolerance = 0;
  return t;
}

std::vector<std::string> format_names() {
  std::vector<std::string> v;
  for (const FormatInfo& f : all_formats()) v.push_back(f.name);
  return v;
}

// FP8, MX and NVFP4 at a weight matrix of Llama-3-8B and of its MLP.
std::vector<OpShape> convert_shapes() {
  std::vector<OpShape> v;
  for (const char* f : {"e4m3", "mxfp8_e4m3", "mxfp4", "nvfp4"})
    for (auto [r, c] : {std::pair<int64_t, int64_t>{4096, 4096}, {14336, 4096}}) v.push_back({{r, c}, f});
  return v;
}

}  // namespace

std::string OpShape::str() const {
  std::string s;
  for (int64_t d : dims) s += (s.empty() ? "" : "x") + std::to_string(d);
  return variant.empty() ? s : variant + ":" + s;
}

const std::vector<TuneOp>& tune_ops() {
  static const std::vector<TuneOp> ops = {
      {"f16", "M,N,K", llm_gemm_shapes(), [](Context& c, const OpShape& s) { return gemm_task(c, s, false); }},
      {"w4a16", "M,N,K", llm_gemm_shapes(), [](Context& c, const OpShape& s) { return gemm_task(c, s, true); }},
      {"w4a8", "M,N,K", llm_gemm_shapes(), w4a8_task},
      {"attention", "BATCH,CONTEXT", {{{1, 1024}}, {{1, 4096}}, {{8, 1024}}, {{8, 4096}}}, decode_task},
      {"attention_prefill", "BATCH,TOKENS", {{{1, 512}}, {{1, 2048}}, {{4, 512}}}, prefill_task},
      {"kv_append", "BATCH,TOKENS", {{{1, 1}}, {{16, 1}}, {{1, 512}}}, kv_append_task},
      {"quantize", "FORMAT,ROWS,COLS", convert_shapes(), [](Context& c, const OpShape& s) { return convert_task(c, s, true); },
       format_names()},
      {"dequantize", "FORMAT,ROWS,COLS", convert_shapes(),
       [](Context& c, const OpShape& s) { return convert_task(c, s, false); }, format_names()},
  };
  return ops;
}

const TuneOp& tune_op(const std::string& name) {
  std::string names;
  for (const TuneOp& op : tune_ops()) {
    if (op.name == name) return op;
    names += (names.empty() ? "" : "|") + op.name;
  }
  throw Error(ErrorCode::InvalidArgument, "--op: unknown op '" + name + "' (expected " + names + ")");
}

std::vector<OpShape> parse_op_shapes(const TuneOp& op, const std::string& text) {
  const size_t arity = size_t(std::count(op.shape_syntax.begin(), op.shape_syntax.end(), ',') + 1);
  std::vector<OpShape> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ';')) {
    if (item.empty()) continue;
    OpShape s;
    std::stringstream is(item);
    std::string v;
    bool ok = true;
    if (!op.variants.empty()) {  // the first field names a variant
      std::getline(is, s.variant, ',');
      ok = std::find(op.variants.begin(), op.variants.end(), s.variant) != op.variants.end();
      s.dims.push_back(0);  // counts toward the arity; dropped below
    }
    while (std::getline(is, v, ',')) {
      size_t used = 0;
      long long x = 0;
      try {
        x = std::stoll(v, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      ok = ok && used == v.size() && used > 0 && x > 0 && x <= (1ll << 31) - 1;
      s.dims.push_back(x);
    }
    if (!ok || s.dims.size() != arity) {
      std::string names;
      for (const std::string& n : op.variants) names += (names.empty() ? "" : "|") + n;
      throw Error(ErrorCode::InvalidArgument, "--shapes: bad shape '" + item + "' for --op " + op.name + " (expected " +
                                                  op.shape_syntax + " with positive integers" +
                                                  (names.empty() ? "" : ", FORMAT one of " + names) + ")");
    }
    if (!op.variants.empty()) s.dims.erase(s.dims.begin());
    out.push_back(s);
  }
  if (out.empty()) throw Error(ErrorCode::InvalidArgument, "--shapes: no shape given");
  return out;
}

}  // namespace lowbit::tune
