// report.hpp — one benchmark run's results: rows (op, shape, config, timing, work), the roofline they
// are judged against, derived metrics (GB/s, TFLOP/s, % of peak bandwidth, memory/compute bound,
// speed-up vs fp16), the JSON document and the text table.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/formulas.hpp"
#include "bench/timing.hpp"

namespace lowbit::bench {

using ojson = nlohmann::ordered_json;

struct Result {
  std::string op;       // f16, w4a16, w4a8, clblast, copy, convert, attention
  std::string backend;  // vulkan, opencl, cpu
  ojson shape;          // "m", "n", "k" first, then the op's own fields (group, format, kv_format...)
  std::string config;   // what ran: gemm path, CLBlast routine, packed codes, ...
  std::string config_source = "heuristic";  // heuristic | tuned | fixed
  Stats stats;
  Work work;
  std::optional<double> f16_ms;  // the fp16 counterpart's median in this run (speedup_vs_f16)
  bool f16_paired = false;       // f16_ms was timed in turn with this row's runs (attention, w4a16), not alone before it
  std::optional<double> w4a16_ms;  // w4a8 rows: the W4A16 row's median on the same shape (speedup_vs_w4a16)
  std::optional<double> kv_bytes;  // attention: bytes of K/V (codes + scales) read
  std::string error;             // non-empty: the op could not run here (e.g. Unsupported)
  std::optional<GemmLaunch> launch;  // GEMM rows: how the measured run was launched (geometry columns)
  bool has_serial = false;           // --pipeline both: serial_ms / dequant_hidden_pct columns (null on GEMV)
  std::optional<double> serial_ms;   // median of the serial (stages = 1) run of the same tile
  std::string kernel;                // attention rows: the kernel that ran (Context::last_attention_kernel)
};

// Roofline of the device, measured in the same run. peak_gbps: the copy op's GB/s; peak_tflops: the
// best TFLOP/s of any GEMM in the run (incl. a calibration fp16 GEMM). ridge = peak_tflops*1e3 /
// peak_gbps flop/byte; a row is "memory"-bound when flops/bytes < ridge, else "compute"-bound.
struct Roofline {
  double peak_gbps = 0, peak_tflops = 0;
  std::string gbps_source, tflops_source;
  double ridge() const { return peak_gbps > 0 ? peak_tflops * 1e3 / peak_gbps : 0; }
};

struct Report {
  DeviceInfo device;
  Roofline roofline;
  int warmup = 0, iters = 0;
  std::string pipeline = "pipelined";  // --pipeline of the run
  double warmup_ms = 0;                // busy warm-up before each row's timing
  uint64_t flush_bytes = 0;            // --flush-mib of the run (0: no cache flush between iterations)
  std::vector<Result> results;
};

ojson device_json(const DeviceInfo& d);
ojson result_json(const Result& r, const Roofline& roof);
ojson report_json(const Report& r);
// Writes j to path through a temp file renamed into place (no partial file on failure).
void write_json(const ojson& j, const std::string& path);
void print_table(const Report& r, std::FILE* out);

}  // namespace lowbit::bench
