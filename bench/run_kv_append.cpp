// run_kv_append.cpp — the kv_append runner: for each KV format (fp16 first, the baseline of
// speedup_vs_f16) and each (batch, new tokens per sequence, kv heads), a cache holding exactly those
// tokens, then Context::kv_append of random fp16 K/V into them, timed (each run rewrites the same
// slots). Defaults: a decode step of batch 1 and of batch 16 (one token per sequence) and a prefill of
// 512 tokens; Llama-3-8B's 8 KV heads of 128.
#include "bench/runners.hpp"

namespace lowbit::bench {

namespace {

const Result& one_row(Session& s, KvFormat f, const AttentionShape& a, std::optional<double> f16_ms) {
  const int64_t tokens = int64_t(a.batch) * a.q_len;
  Result r;
  r.op = "kv_append";
  r.shape = {{"m", tokens}, {"n", int64_t(a.kv_heads) * a.head_dim}, {"k", 1}, {"batch", a.batch},
             {"tokens_per_seq", a.q_len}, {"kv_heads", a.kv_heads}, {"head_dim", a.head_dim},
             {"page_size", a.page_size}, {"kv_format", to_string(f)}};
  r.config = a.q_len == 1 ? "decode step" : "prefill";
  r.config_source = "fixed";
  r.work = kv_append_work(tokens, a.kv_heads, a.head_dim, f);
  r.f16_ms = f16_ms;
  try {
    KvCache cache = bench_kv_cache(s, f, a);
    std::vector<int> seqs, counts(size_t(a.batch), a.q_len);
    for (int b = 0; b < a.batch; ++b) seqs.push_back(cache.add_sequence());
    cache.extend(seqs, counts);
    const int64_t row = int64_t(a.kv_heads) * a.head_dim;
    auto kh = random_f16(size_t(tokens * row), 9, 1.0f), vh = random_f16(size_t(tokens * row), 10, 1.0f);
    Buffer k = s.ctx.upload(DType::F16, {tokens, a.kv_heads, a.head_dim}, kh.data(), kh.size() * 2);
    Buffer v = s.ctx.upload(DType::F16, {tokens, a.kv_heads, a.head_dim}, vh.data(), vh.size() * 2);
    return measure(s, r, [&] { s.ctx.kv_append(cache, 0, seqs, counts, k, v); });
  } catch (const Error& e) {  // setup unsupported here
    return error_row(s, r, e);
  }
}

}  // namespace

void run_kv_append(Session& s) {
  const Options& o = s.o;
  std::vector<std::pair<int, int>> shapes;  // (batch, new tokens per sequence)
  if (o.batch.empty() && o.q_len.empty()) {
    shapes = {{1, 1}, {16, 1}, {1, 512}};
  } else {
    const std::vector<int> one = {1};
    for (int b : o.batch.empty() ? one : o.batch)
      for (int t : o.q_len.empty() ? one : o.q_len) shapes.push_back({b, t});
  }
  for (auto [batch, tokens] : shapes)
    for (int kv_heads : o.kv_heads) {
      AttentionShape a{batch, tokens, tokens, o.q_heads, kv_heads, o.head_dim, o.page_size};
      for_each_kv_format(s, [&](KvFormat f, std::optional<double> f16_ms) -> const Result& {
        return one_row(s, f, a, f16_ms);
      });
    }
}

}  // namespace lowbit::bench
