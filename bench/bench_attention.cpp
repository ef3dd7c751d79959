// bench_attention.cpp — decode attention over a paged, quantized KV cache: for each batch, context and
// KV format, fill a cache (pages scattered; kv_append untimed), then time Context::attention with one
// query per sequence (median / p20 / p80 of the device time). Reports the bytes the op must read
// (K/V codes + their scales/zeros; Q and O are < 0.1% and left out), GB/s, and the speedup against an
// fp16 cache of the same shape ("vs_fp16" = fp16 ms / this ms). Shape per the issue: Hq 32, Hkv 8, D 128.
//
//   bench_attention                       # default: contexts 512..2048, batch 1 and 16 (minutes on lavapipe)
//   bench_attention --full                # contexts 512 .. 32768, batch 1 and 16
//   bench_attention --contexts 4096,8192 --batches 1 --formats fp16,int4 --json out.json --backend vulkan
//
// A configuration the device cannot hold (e.g. lavapipe's 128 MiB storage-buffer range) or whose op
// the backend lacks is printed as "skipped: <reason>" and kept in the JSON with an "error" field.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "bench/timing.hpp"
#include "lowbit_formats.h"

using namespace lowbit;

namespace {

struct Config {
  int hq = 32, hkv = 8, d = 128, page = 16;
  int warmup = 1, iters = 5;
};

// K/V bytes one decode step reads: codes of both tensors plus their per-(token, head) scale/zero.
double kv_bytes(KvFormat f, int64_t tokens, const Config& c) {
  double row = f == KvFormat::F16 ? 2.0 * c.d : f == KvFormat::Int4 ? c.d / 2.0 : double(c.d);
  double meta = (f == KvFormat::Int8 || f == KvFormat::Int4) ? 4.0 : 0.0;  // fp16 scale + zero
  return 2.0 * double(tokens) * c.hkv * (row + meta);
}

std::vector<uint16_t> random_rows(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(nd(rng))));
  return v;
}

struct Row {
  std::string format;
  int batch = 0, context = 0;
  bench::Stats st;
  double bytes = 0;
  std::string error;
};

// Fills a cache of `batch` sequences of `context` tokens in chunks (one random chunk reused) and
// times decode attention over it.
Row run_one(Context& ctx, KvFormat f, int batch, int context, const Config& c) {
  Row r{to_string(f), batch, context, {}, kv_bytes(f, int64_t(batch) * context, c), ""};
  try {
    KvCacheOptions o;
    o.page_size = c.page;
    o.kv_heads = c.hkv;
    o.head_dim = c.d;
    o.format = f;
    o.num_pages = batch * ((context + c.page - 1) / c.page);
    if (f == KvFormat::E4M3 || f == KvFormat::E5M2) o.k_scale = o.v_scale = {1.0f / 64};
    KvCache cache = ctx.create_kv_cache(o);
    cache.scatter_free_pages(1);
    std::vector<int> seqs;
    for (int b = 0; b < batch; ++b) seqs.push_back(cache.add_sequence());
    const int chunk = std::min(context, std::max(16, 65536 / batch));
    auto kv = random_rows(size_t(batch) * chunk * c.hkv * c.d, 3);
    for (int done = 0; done < context;) {
      int n = std::min(chunk, context - done);
      std::vector<int> counts(size_t(batch), n);
      cache.extend(seqs, counts);
      Buffer k = ctx.upload(DType::F16, {int64_t(batch) * n, c.hkv, c.d}, kv.data(), size_t(batch) * n * c.hkv * c.d * 2);
      ctx.kv_append(cache, 0, seqs, counts, k, k);
      done += n;
    }
    auto qh = random_rows(size_t(batch) * c.hq * c.d, 4);
    Buffer q = ctx.upload(DType::F16, {batch, c.hq, c.d}, qh.data(), qh.size() * 2);
    std::vector<int> ones(size_t(batch), 1);
    Buffer out;
    r.st = bench::time_op(ctx, [&] { out = ctx.attention(q, cache, 0, seqs, ones); }, c.warmup, c.iters, {},
                          bench::default_warmup_ms(ctx.device_info()));
    auto o32 = ctx.download<float>(out);
    for (float x : o32)
      if (!std::isfinite(x)) throw Error(ErrorCode::Internal, "non-finite attention output");
  } catch (const Error& e) {
    r.error = e.what();
  }
  return r;
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string t; std::getline(ss, t, ',');) {
    int m = 1;
    if (!t.empty() && (t.back() == 'k' || t.back() == 'K')) m = 1024, t.pop_back();
    v.push_back(std::stoi(t) * m);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Decode attention over a quantized, paged KV cache: time, GB/s, speedup vs an fp16 cache"};
  std::string contexts = "512,1k,2k", batches = "1,16", formats = "fp16,int8,int4,e4m3,e5m2", json_path;
  std::string backend = "auto", device;
  bool full = false;
  Config c;
  app.add_option("--contexts", contexts, "comma-separated contexts (k = 1024)");
  app.add_option("--batches", batches, "comma-separated batch sizes");
  app.add_option("--formats", formats, "KV formats (fp16 first is the baseline)");
  app.add_flag("--full", full, "contexts 512,1k,2k,4k,8k,16k,32k (slow on CPU-based drivers)");
  app.add_option("--iters", c.iters, "timed iterations");
  app.add_option("--warmup", c.warmup, "untimed iterations first");
  app.add_option("--page-size", c.page, "tokens per page");
  app.add_option("--json", json_path, "write the results as JSON here");
  app.add_option("--backend", backend, "auto, vulkan, opencl or cpu");
  app.add_option("--device", device, "device index or name substring");
  CLI11_PARSE(app, argc, argv);
  try {
    if (full) contexts = "512,1k,2k,4k,8k,16k,32k";
    std::vector<KvFormat> fmts;
    {
      std::stringstream ss(formats);
      for (std::string t; std::getline(ss, t, ',');) fmts.push_back(parse_kv_format(t));
    }
    ContextOptions co;
    co.backend = parse_backend(backend);
    co.device = device;
    Context ctx = Context::create(co);
    const auto& info = ctx.device_info();
    std::printf("attention decode on %s (%s): Hq %d, Hkv %d, D %d, page %d; median [p20, p80] of %d runs\n",
                info.name.c_str(), to_string(info.backend), c.hq, c.hkv, c.d, c.page, c.iters);
    std::printf("%6s %8s %6s %10s %10s %10s %10s %9s %8s\n", "batch", "context", "kv", "ms", "p20", "p80", "MB read",
                "GB/s", "vs_fp16");
    nlohmann::json rows = nlohmann::json::array();
    for (int b : parse_list(batches))
      for (int ctxlen : parse_list(contexts)) {
        double f16_ms = 0;
        for (KvFormat f : fmts) {
          Row r = run_one(ctx, f, b, ctxlen, c);
          nlohmann::json j = {{"op", "attention_decode"}, {"backend", to_string(info.backend)}, {"device", info.name},
                              {"batch", b}, {"context", ctxlen}, {"q_heads", c.hq}, {"kv_heads", c.hkv},
                              {"head_dim", c.d}, {"page_size", c.page}, {"kv_format", r.format},
                              {"bytes_read", r.bytes}};
          if (!r.error.empty()) {
            std::printf("%6d %8d %6s   skipped: %s\n", b, ctxlen, r.format.c_str(), r.error.c_str());
            j["error"] = r.error;
          } else {
            if (f == KvFormat::F16) f16_ms = r.st.median_ms;
            double gbs = r.bytes / (r.st.median_ms * 1e-3) / 1e9;
            double ratio = f16_ms > 0 ? f16_ms / r.st.median_ms : NAN;
            std::printf("%6d %8d %6s %10.4f %10.4f %10.4f %10.2f %9.2f %8.2f\n", b, ctxlen, r.format.c_str(),
                        r.st.median_ms, r.st.p20_ms, r.st.p80_ms, r.bytes / 1e6, gbs, ratio);
            j.update({{"median_ms", r.st.median_ms}, {"p20_ms", r.st.p20_ms}, {"p80_ms", r.st.p80_ms},
                      {"iters", r.st.iters}, {"gb_per_s", gbs}});
            if (f16_ms > 0) j["vs_fp16"] = ratio;
          }
          std::fflush(stdout);
          rows.push_back(j);
        }
      }
    if (!json_path.empty()) {
      std::ofstream(json_path) << rows.dump(2) << "\n";
      std::printf("wrote %s\n", json_path.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attention: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
