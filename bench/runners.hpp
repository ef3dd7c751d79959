// runners.hpp — internal to bench/: the state of one run and the per-op runners run_bench dispatches
// to. Adding an op = one runner here + one entry in the registry (runners.cpp).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench.hpp"
#include "bench/timing.hpp"

namespace lowbit::bench {

struct Session {
  Context& ctx;
  const Options& o;
  std::vector<Result>& results;
  std::function<void(const Result&)> progress;
  std::function<void()> flush;  // the cache flush ahead of each timed iteration (empty: none)
  double warmup_ms = 0;         // resolved busy warm-up per row (Options::warmup_ms or the device default)
};

// Times fn with the session's settings (o.warmup, the busy warm-up, o.iters timed runs, the cache flush).
Stats time_in(Session& s, const std::function<void()>& fn);

// Times fn (o.warmup untimed runs, then o.iters timed ones) and appends the row. An Unsupported or
// OutOfMemory error becomes an error row instead of ending the run. Returns the appended row.
const Result& measure(Session& s, Result r, const std::function<void()>& fn);
// The same with `base` (the row's fp16 counterpart) timed in turn with fn, run by run: r.f16_ms is base's
// median over those runs (r.f16_paired), so the speed-up compares the two under the same conditions.
const Result& measure_paired(Session& s, Result r, const std::function<void()>& base, const std::function<void()>& fn);

// Appends r as an error row for an Unsupported or OutOfMemory error (rethrows any other); returns it.
const Result& error_row(Session& s, Result r, const Error& e);

// Random data (normal, standard deviation sd) as fp16 bits / fp32.
std::vector<uint16_t> random_f16(size_t n, uint32_t seed, float sd);
std::vector<float> random_f32(size_t n, uint32_t seed, float sd);
std::vector<uint16_t> to_f16(const std::vector<float>& v);

void run_copy(Session& s);                            // one device copy of o.copy_bytes (capped)
void run_gemm(Session& s, const std::string& op);     // f16 / w4a16 (+ our fp16, + CLBlast) per shape
void run_convert(Session& s);                         // quantize + dequantize per format and shape
void run_attention(Session& s);                       // run_attention.cpp
void run_kv_append(Session& s);                       // run_kv_append.cpp
// A one-layer cache of a.batch * ceil(a.context / page) pages.
KvCache bench_kv_cache(Session& s, KvFormat f, const AttentionShape& a);
// fp16 first, then the other --kv-format formats (parsed; repeats of fp16 dropped).
std::vector<KvFormat> kv_formats(const Options& o);
// Calls row(format, fp16 median) for fp16 (fp16 median empty) and then every other format of
// o.kv_formats, passing fp16's median (speedup_vs_f16) once its row succeeded.
void for_each_kv_format(Session& s, const std::function<const Result&(KvFormat, std::optional<double>)>& row);
// A calibration fp16 GEMM (tiled) for the compute peak; returns its TFLOP/s (0 if it cannot run).
double calibrate_compute_peak(Session& s, const GemmShape& shape);

// CLBlast baseline (clblast_peer.cpp; a stub when CLBlast was not found at build time).
bool clblast_built();
// One CLBlast GEMM row: Y = X · Wᵀ on the OpenCL device's own queue, HGEMM when the device has fp16,
// else SGEMM on fp32 data (the row's config says which). w: dequantized weights [N, K].
const Result& run_clblast(Session& s, const GemmShape& sh, const std::vector<float>& w, const std::vector<float>& x,
                          double f16_ms);

}  // namespace lowbit::bench
