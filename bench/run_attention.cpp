// run_attention.cpp — the attention runner: for each KV format (fp16 first, the baseline of
// speedup_vs_f16 = speedup_vs_fp16_kv) and each (batch, context, q_len, kv_heads), fill a paged KV cache with `context` random tokens
// per sequence (kv_append, untimed), then time Context::attention (decode when q_len = 1, causal
// prefill otherwise). A backend without the op gives error rows, not a failed run.
// Built against the public attention API; CMake defines LOWBIT_BENCH_HAVE_ATTENTION=0 while the
// library does not define it yet, and then the runner says so.
#include "bench/runners.hpp"

namespace lowbit::bench {

#if LOWBIT_BENCH_HAVE_ATTENTION

namespace {

const Result& one_row(Session& s, KvFormat f, const AttentionShape& a, std::optional<double> f16_ms) {
  Result r;
  r.op = "attention";
  // m = query tokens, n = q_heads * head_dim, k = context (keys per sequence).
  r.shape = {{"m", int64_t(a.batch) * a.q_len}, {"n", int64_t(a.q_heads) * a.head_dim}, {"k", a.context},
             {"batch", a.batch}, {"q_len", a.q_len}, {"context", a.context}, {"q_heads", a.q_heads},
             {"kv_heads", a.kv_heads}, {"head_dim", a.head_dim}, {"page_size", a.page_size},
             {"kv_format", to_string(f)}};
  r.config = a.q_len == 1 ? "decode" : "prefill";
  r.config_source = "heuristic";
  r.work = attention_work(a, f);
  r.kv_bytes = attention_kv_bytes(a, f);
  r.f16_ms = f16_ms;
  try {
    KvCache cache = bench_kv_cache(s, f, a);
    std::vector<int> seqs, ctx_counts(size_t(a.batch), a.context), q_counts(size_t(a.batch), a.q_len);
    for (int b = 0; b < a.batch; ++b) seqs.push_back(cache.add_sequence());
    cache.extend(seqs, ctx_counts);
    int64_t tokens = int64_t(a.batch) * a.context, row = int64_t(a.kv_heads) * a.head_dim;
    auto kh = random_f16(size_t(tokens * row), 6, 1.0f), vh = random_f16(size_t(tokens * row), 7, 1.0f);
    Buffer k = s.ctx.upload(DType::F16, {tokens, a.kv_heads, a.head_dim}, kh.data(), kh.size() * 2);
    Buffer v = s.ctx.upload(DType::F16, {tokens, a.kv_heads, a.head_dim}, vh.data(), vh.size() * 2);
    s.ctx.kv_append(cache, 0, seqs, ctx_counts, k, v);
    int64_t nq = int64_t(a.batch) * a.q_len;
    auto qh = random_f16(size_t(nq * a.q_heads * a.head_dim), 8, 1.0f);
    Buffer q = s.ctx.upload(DType::F16, {nq, a.q_heads, a.head_dim}, qh.data(), qh.size() * 2);
    return measure(s, r, [&] { s.ctx.attention(q, cache, 0, seqs, q_counts); });
  } catch (const Error& e) {  // setup (cache, kv_append) unsupported here
    return error_row(s, r, e);
  }
}

}  // namespace

void run_attention(Session& s) {
  const Options& o = s.o;
  for (int kv_heads : o.kv_heads)
    if (o.q_heads % kv_heads)
      throw Error(ErrorCode::InvalidArgument, "--q-heads must be a multiple of --kv-heads");
  const std::vector<int> one = {1};
  for (int batch : o.batch.empty() ? one : o.batch)
    for (int context : o.context)
      for (int q_len : o.q_len.empty() ? one : o.q_len)
        for (int kv_heads : o.kv_heads) {
          if (q_len > context)
            throw Error(ErrorCode::InvalidArgument, "--q-len " + std::to_string(q_len) + " exceeds --context " +
                                                        std::to_string(context));
          AttentionShape a{batch, q_len, context, o.q_heads, kv_heads, o.head_dim, o.page_size};
          for_each_kv_format(s, [&](KvFormat f, std::optional<double> f16_ms) -> const Result& {
            return one_row(s, f, a, f16_ms);
          });
        }
}

#else

void run_attention(Session&) {
  throw Error(ErrorCode::Unsupported, "--op attention: this lowbit was built before the attention op existed");
}

#endif

}  // namespace lowbit::bench
