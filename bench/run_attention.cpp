// run_attention.cpp — the attention runner: for each KV format (fp16 first, the baseline of
// speedup_vs_f16 = speedup_vs_fp16_kv) and each (batch, context, q_len, kv_heads), fill a paged KV cache with `context` random tokens
// per sequence (kv_append, untimed), then time Context::attention (decode when q_len = 1, causal
// prefill otherwise); each quantized format's runs alternate with the fp16 cache's, which gives its
// speed-up under the same conditions. A backend without the op gives error rows, not a failed run.
// Built against the public attention API; CMake defines LOWBIT_BENCH_HAVE_ATTENTION=0 while the
// library does not define it yet, and then the runner says so.
#include <memory>

#include "bench/runners.hpp"

namespace lowbit::bench {

#if LOWBIT_BENCH_HAVE_ATTENTION

namespace {

// One format's paged cache of `context` random tokens per sequence (kv_append, untimed) and its queries.
struct Prepared {
  KvCache cache;
  Buffer q;
  std::vector<int> seqs, q_counts;
  void run(Context& ctx) { ctx.attention(q, cache, 0, seqs, q_counts); }
};

std::unique_ptr<Prepared> prepare(Session& s, KvFormat f, const AttentionShape& a) {
  auto p = std::make_unique<Prepared>(Prepared{bench_kv_cache(s, f, a), {}, {}, {}});
  std::vector<int> ctx_counts(size_t(a.batch), a.context);
  p->q_counts.assign(size_t(a.batch), a.q_len);
  for (int b = 0; b < a.batch; ++b) p->seqs.push_back(p->cache.add_sequence());
  p->cache.extend(p->seqs, ctx_counts);
  int64_t tokens = int64_t(a.batch) * a.context, row = int64_t(a.kv_heads) * a.head_dim;
  auto kh = random_f16(size_t(tokens * row), 6, 1.0f), vh = random_f16(size_t(tokens * row), 7, 1.0f);
  Buffer k = s.ctx.upload(DType::F16, {tokens, a.kv_heads, a.head_dim}, kh.data(), kh.size() * 2);
  Buffer v = s.ctx.upload(DType::F16, {tokens, a.kv_heads, a.head_dim}, vh.data(), vh.size() * 2);
  s.ctx.kv_append(p->cache, 0, p->seqs, ctx_counts, k, v);
  int64_t nq = int64_t(a.batch) * a.q_len;
  auto qh = random_f16(size_t(nq * a.q_heads * a.head_dim), 8, 1.0f);
  p->q = s.ctx.upload(DType::F16, {nq, a.q_heads, a.head_dim}, qh.data(), qh.size() * 2);
  return p;
}

Result header(KvFormat f, const AttentionShape& a) {
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
  return r;
}

// fp16 first, timed alone (the fp16 row); its cache is kept and timed again in turn with each other
// format's runs, which gives that row's speed-up (f16_paired). Where two caches do not fit, the row
// falls back to the fp16 row's own median.
void run_formats(Session& s, const AttentionShape& a) {
  std::unique_ptr<Prepared> f16;
  std::optional<double> f16_alone;
  for (KvFormat f : kv_formats(s.o)) {
    Result r = header(f, a);
    r.f16_ms = f16_alone;
    std::unique_ptr<Prepared> p;
    try {
      try {
        p = prepare(s, f, a);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::OutOfMemory || !f16) throw;
        f16.reset();  // room for this format's cache: its speed-up then uses the fp16 row's median
        p = prepare(s, f, a);
      }
    } catch (const Error& e) {  // setup (cache, kv_append) unsupported here
      error_row(s, std::move(r), e);
      continue;
    }
    if (f == KvFormat::F16) {
      const Result& row = measure(s, std::move(r), [&] { p->run(s.ctx); });
      if (row.error.empty()) {
        f16_alone = row.stats.median_ms;
        s.results.back().f16_ms = f16_alone;
        f16 = std::move(p);
      }
    } else if (f16) {
      measure_paired(s, std::move(r), [&] { f16->run(s.ctx); }, [&] { p->run(s.ctx); });
    } else {
      measure(s, std::move(r), [&] { p->run(s.ctx); });
    }
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
          run_formats(s, AttentionShape{batch, q_len, context, o.q_heads, kv_heads, o.head_dim, o.page_size});
        }
}

#else

void run_attention(Session&) {
  throw Error(ErrorCode::Unsupported, "--op attention: this lowbit was built before the attention op existed");
}

#endif

}  // namespace lowbit::bench
