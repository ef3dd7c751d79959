// report.cpp — see report.hpp.
#include "bench/report.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>

namespace lowbit::bench {

namespace {

double gbps(const Result& r) { return r.work.bytes / r.stats.median_ms / 1e6; }
double tflops(const Result& r) { return r.work.flops / r.stats.median_ms / 1e9; }

std::string shape_text(const Result& r) {
  std::string s;
  bool derived = r.op == "attention" || r.op == "copy" || r.op == "kv_append";  // m, n, k repeat their fields
  for (const auto& [key, v] : r.shape.items()) {
    if ((derived && (key == "m" || key == "n" || key == "k")) || (r.op == "convert" && key == "m")) continue;
    if (!s.empty()) s += ' ';
    s += key + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return s;
}

bool gemm_op(const std::string& op) { return op == "f16" || op == "w4a16" || op == "w4a8" || op == "clblast"; }

// GEMM rows: the launch geometry of the measured run (null where unknown: an error row, a peer library),
// then, with --pipeline both, the serial run's median and the share of it the pipeline hides.
void add_launch(ojson& j, const Result& r) {
  if (r.op == "attention") j["kernel"] = r.kernel.empty() ? ojson(nullptr) : ojson(r.kernel);
  if (!gemm_op(r.op)) return;
  const std::optional<GemmLaunch>& l = r.launch;
  j["kernel"] = l ? ojson(l->kernel) : ojson(nullptr);
  j["workgroups"] = l ? ojson(l->workgroups) : ojson(nullptr);
  j["invocations_per_workgroup"] = l ? ojson(l->invocations_per_workgroup) : ojson(nullptr);
  j["shared_bytes"] = l ? ojson(l->shared_bytes) : ojson(nullptr);
  j["stages"] = l ? ojson(l->stages) : ojson(nullptr);
  j["split_k"] = l ? ojson(l->split_k) : ojson(nullptr);
  if (!r.has_serial) return;
  bool both = r.serial_ms && r.error.empty() && *r.serial_ms > 0;
  j["serial_ms"] = r.serial_ms ? ojson(*r.serial_ms) : ojson(nullptr);
  j["dequant_hidden_pct"] = both ? ojson(100 * (*r.serial_ms - r.stats.median_ms) / *r.serial_ms) : ojson(nullptr);
}

// The geometry columns of a table row ("-" where the row has none).
std::string launch_text(const Result& r) {
  char t[96];
  if (!r.launch) {
    std::snprintf(t, sizeof t, "%8s %4s %6s %2s %6s", "-", "-", "-", "-", "-");
  } else {
    const GemmLaunch& l = *r.launch;
    std::snprintf(t, sizeof t, "%8llu %4u %5.1fK %2u %6u", (unsigned long long)l.workgroups, l.invocations_per_workgroup,
                  l.shared_bytes / 1024.0, l.stages, l.split_k);
  }
  return t;
}

// --pipeline both: "  12.3% of 4.567" (the pipeline hides 12.3% of the serial run's 4.567 ms), marked when the
// pipelined run is the slower one; "  -" where there is no pair (GEMV rows, other ops).
std::string hidden_text(const ojson& j) {
  if (!j.contains("dequant_hidden_pct") || j["dequant_hidden_pct"].is_null()) return j.contains("serial_ms") ? "  -" : "";
  double pct = j["dequant_hidden_pct"].get<double>();
  char t[96];
  std::snprintf(t, sizeof t, "  %.1f%% of %.3f%s", pct, j["serial_ms"].get<double>(),
                pct < 0 ? " (negative: the pipelined run is slower than the serial one)" : "");
  return t;
}

}  // namespace

ojson device_json(const DeviceInfo& d) {
  return {{"backend", to_string(d.backend)},
          {"name", d.name},
          {"vendor", d.vendor},
          {"driver", d.driver_version},
          {"type", d.type},
          {"api_version", d.api_version},
          {"subgroup_size", d.subgroup_size},
          {"shared_memory_bytes", d.shared_memory_bytes},
          {"max_buffer_range", d.max_buffer_range},
          {"fp16", d.fp16},
          {"int8", d.int8},
          {"integer_dot_product", d.integer_dot_product},
          {"cooperative_matrix", d.cooperative_matrix}};
}

ojson result_json(const Result& r, const Roofline& roof) {
  ojson j = {{"op", r.op}, {"backend", r.backend}};
  for (const auto& [key, v] : r.shape.items()) j[key] = v;
  j["config"] = r.config;
  j["config_source"] = r.config_source;
  j["bytes"] = uint64_t(std::llround(r.work.bytes));  // whole counts: integers in the JSON
  j["flops"] = uint64_t(std::llround(r.work.flops));
  if (r.kv_bytes) j["kv_bytes"] = uint64_t(std::llround(*r.kv_bytes));
  const bool kv_peer = r.op == "attention";  // its fp16 peer is an fp16 KV cache: also speedup_vs_fp16_kv
  const bool w4a16_peer = r.op == "w4a8";     // also against the W4A16 row of the same shape: speedup_vs_w4a16
  if (!r.error.empty()) {
    for (const char* k : {"median_ms", "p20_ms", "p80_ms", "gbps", "tflops", "pct_of_peak_bw", "intensity", "bound",
                          "speedup_vs_f16"})
      j[k] = nullptr;
    if (kv_peer) j["speedup_vs_fp16_kv"] = nullptr;
    if (w4a16_peer) j["speedup_vs_w4a16"] = nullptr;
    add_launch(j, r);
    j["error"] = r.error;
    return j;
  }
  j["median_ms"] = r.stats.median_ms;
  j["p20_ms"] = r.stats.p20_ms;
  j["p80_ms"] = r.stats.p80_ms;
  j["iters"] = r.stats.iters;
  j["gbps"] = gbps(r);
  j["tflops"] = tflops(r);
  j["pct_of_peak_bw"] = roof.peak_gbps > 0 ? ojson(gbps(r) / roof.peak_gbps * 100) : ojson(nullptr);
  double intensity = r.work.bytes > 0 ? r.work.flops / r.work.bytes : 0;
  j["intensity"] = intensity;
  j["bound"] = (roof.ridge() > 0 && intensity >= roof.ridge()) ? "compute" : "memory";
  j["speedup_vs_f16"] = r.f16_ms ? ojson(*r.f16_ms / r.stats.median_ms) : ojson(nullptr);
  if (kv_peer) j["speedup_vs_fp16_kv"] = j["speedup_vs_f16"];
  if (r.f16_ms) j["f16_paired"] = r.f16_paired;
  if (w4a16_peer) j["speedup_vs_w4a16"] = r.w4a16_ms ? ojson(*r.w4a16_ms / r.stats.median_ms) : ojson(nullptr);
  add_launch(j, r);
  return j;
}

ojson report_json(const Report& r) {
  const Roofline& f = r.roofline;
  ojson j = {{"device", device_json(r.device)},
             {"settings", {{"warmup", r.warmup}, {"iters", r.iters}, {"pipeline", r.pipeline}, {"warmup_ms", r.warmup_ms}, {"flush_bytes", r.flush_bytes}}},
             {"roofline",
              {{"peak_gbps", f.peak_gbps},
               {"peak_gbps_source", f.gbps_source},
               {"peak_tflops", f.peak_tflops},
               {"peak_tflops_source", f.tflops_source},
               {"ridge_flops_per_byte", f.ridge()}}},
             {"results", ojson::array()}};
  for (const auto& x : r.results) j["results"].push_back(result_json(x, f));
  return j;
}

void write_json(const ojson& j, const std::string& path) {
  std::filesystem::path p(path), tmp = p;
  tmp += ".tmp";
  {
    std::ofstream f(tmp);
    if (!f) throw Error(ErrorCode::Io, "cannot write " + path);
    f << j.dump(2) << "\n";
    if (!f.flush()) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw Error(ErrorCode::Io, "cannot write " + path);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, p, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(ErrorCode::Io, "cannot write " + path + ": " + ec.message());
  }
}

void print_table(const Report& r, std::FILE* out) {
  std::fprintf(out, "device: %s (%s, %s)\n", r.device.name.c_str(), to_string(r.device.backend),
               r.device.driver_version.c_str());
  std::fprintf(out, "roofline: %.2f GB/s (%s), %.4f TFLOP/s (%s), ridge %.3g flop/byte\n", r.roofline.peak_gbps,
               r.roofline.gbps_source.c_str(), r.roofline.peak_tflops, r.roofline.tflops_source.c_str(),
               r.roofline.ridge());
  bool serial = false;  // --pipeline both: a column with the share of the serial time the pipeline hides
  for (const auto& x : r.results) serial = serial || x.has_serial;
  std::fprintf(out, "%-9s %-44s %-10s %10s %19s %9s %6s %9s %-7s %8s %8s %4s %6s %2s %6s%s\n", "op", "shape", "config",
               "median ms", "p20..p80 ms", "GB/s", "%bw", "TFLOP/s", "bound", "vs f16", "wgroups", "inv", "shared",
               "st", "splitk", serial ? "  dequant hidden (of serial ms)" : "");
  for (const auto& x : r.results) {
    if (!x.error.empty()) {
      std::fprintf(out, "%-9s %-44s %-10s error: %s\n", x.op.c_str(), shape_text(x).c_str(), x.config.c_str(),
                   x.error.c_str());
      continue;
    }
    ojson j = result_json(x, r.roofline);
    char sp[32] = "-";
    if (!j["speedup_vs_f16"].is_null()) std::snprintf(sp, sizeof sp, "%.2fx", j["speedup_vs_f16"].get<double>());
    char bw[16] = "-";
    if (!j["pct_of_peak_bw"].is_null()) std::snprintf(bw, sizeof bw, "%.0f", j["pct_of_peak_bw"].get<double>());
    char spread[40];
    std::snprintf(spread, sizeof spread, "%.3f..%.3f", x.stats.p20_ms, x.stats.p80_ms);
    char vs_w4a16[48] = "";  // w4a8 rows: the ratio to the W4A16 row of the same shape
    if (j.contains("speedup_vs_w4a16") && !j["speedup_vs_w4a16"].is_null())
      std::snprintf(vs_w4a16, sizeof vs_w4a16, "  %.2fx vs w4a16", j["speedup_vs_w4a16"].get<double>());
    std::fprintf(out, "%-9s %-44s %-10s %10.3f %19s %9.2f %6s %9.4f %-7s %8s %s%s%s\n", x.op.c_str(), shape_text(x).c_str(),
                 x.config.c_str(), x.stats.median_ms, spread, gbps(x), bw, tflops(x),
                 j["bound"].get<std::string>().c_str(), sp, launch_text(x).c_str(), hidden_text(j).c_str(), vs_w4a16);
  }
  std::fflush(out);
}

}  // namespace lowbit::bench
