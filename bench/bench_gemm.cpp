// bench_gemm.cpp — W4A16 vs the fp16 GEMM on one device, same run: for each (M, N, K) the median
// device time of both, bytes moved, GB/s, TFLOP/s and the speed-up; a table on stdout and JSON.
//   bench_gemm [--backend B] [--device D] [--shapes "M,N,K;..."] [--group 128] [--warmup 3]
//              [--iters 10] [--json out.json]
// Default shapes: M in {1, 8, 16, 64, 256} x (N, K) in {(4096,4096), (14336,4096), (4096,14336)}.
#include <CLI/CLI.hpp>
#include <bit>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "bench/timing.hpp"
#include "lowbit_formats.h"

using namespace lowbit;
using json = nlohmann::json;

namespace {

struct Shape3 {
  int64_t m, n, k;
};

std::vector<Shape3> parse_shapes(const std::string& s) {
  std::vector<Shape3> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ';')) {
    Shape3 sh{};
    if (std::sscanf(item.c_str(), "%ld,%ld,%ld", &sh.m, &sh.n, &sh.k) != 3 || sh.m <= 0 || sh.n <= 0 || sh.k <= 0)
      throw Error(ErrorCode::InvalidArgument, "bad shape '" + item + "' (expected M,N,K)");
    v.push_back(sh);
  }
  return v;
}

std::vector<uint16_t> random_f16(size_t n, uint32_t seed, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(nd(rng))));
  return v;
}

json device_json(const DeviceInfo& d) {
  return {{"backend", to_string(d.backend)}, {"name", d.name},         {"vendor", d.vendor},
          {"driver", d.driver_version},      {"type", d.type},         {"max_buffer_range", d.max_buffer_range},
          {"subgroup_size", d.subgroup_size}, {"fp16", d.fp16},        {"cooperative_matrix", d.cooperative_matrix}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"W4A16 vs fp16 GEMM benchmark (device-timed, JSON)"};
  std::string backend = "auto", device, shapes_s, json_out;
  int group = 128, warmup = 3, iters = 10;
  app.add_option("--backend", backend, "auto|vulkan|opencl|cpu");
  app.add_option("--device", device, "device index or name substring");
  app.add_option("--shapes", shapes_s, "M,N,K[;M,N,K...]");
  app.add_option("--group", group, "int4 group size along K");
  app.add_option("--warmup", warmup, "untimed runs first");
  app.add_option("--iters", iters, "timed runs");
  app.add_option("--json", json_out, "write results as JSON");
  CLI11_PARSE(app, argc, argv);
  try {
    std::vector<Shape3> shapes;
    if (shapes_s.empty()) {
      for (auto [n, k] : {std::pair<int64_t, int64_t>{4096, 4096}, {14336, 4096}, {4096, 14336}})
        for (int64_t m : {1, 8, 16, 64, 256}) shapes.push_back({m, n, k});
    } else {
      shapes = parse_shapes(shapes_s);
    }
    Context ctx = Context::create({.backend = parse_backend(backend), .device = device});
    json out = {{"device", device_json(ctx.device_info())}, {"results", json::array()}};
    std::printf("%-6s %-6s %-6s %-9s %10s %10s %9s %9s %8s\n", "M", "N", "K", "path", "f16 ms", "w4a16 ms", "f16 GB/s",
                "w4 GB/s", "speedup");
    int64_t cur_n = -1, cur_k = -1;
    W4Layer layer;
    Buffer wf16;
    for (const auto& s : shapes) {
      if (s.n != cur_n || s.k != cur_k) {  // build the layer once per (N, K)
        auto w = random_f16(size_t(s.n * s.k), 1, 0.02f);
        std::vector<float> wf(w.size());
        for (size_t i = 0; i < w.size(); ++i) wf[i] = std::bit_cast<float>(fmt::lb_f16_to_f32(w[i]));
        layer = ctx.upload_w4(quantize_w4_rtn(wf.data(), s.n, s.k, group, true));
        wf16 = ctx.upload(DType::F16, {s.n, s.k}, w.data(), w.size() * 2);
        cur_n = s.n, cur_k = s.k;
      }
      auto x = random_f16(size_t(s.m * s.k), 2, 1.0f);
      Buffer xb = ctx.upload(DType::F16, {s.m, s.k}, x.data(), x.size() * 2);
      GemmPath path = ctx.choose_gemm_path(s.m);
      auto f16 = bench::time_op(ctx, [&] { ctx.gemm_f16(xb, wf16); }, warmup, iters);
      auto w4 = bench::time_op(ctx, [&] { ctx.gemm_w4a16(xb, layer); }, warmup, iters);
      double io = double(s.m * s.k + s.m * s.n) * 2;
      double bytes_f16 = double(s.n * s.k) * 2 + io;
      double bytes_w4 = double(s.n * s.k) / 2 + double(s.n * (s.k / group)) * 2 + io;
      double flops = 2.0 * double(s.m * s.n * s.k);
      double speedup = f16.median_ms / w4.median_ms;
      std::printf("%-6ld %-6ld %-6ld %-9s %10.3f %10.3f %9.1f %9.1f %7.2fx\n", s.m, s.n, s.k, to_string(path), f16.median_ms,
                  w4.median_ms, bytes_f16 / f16.median_ms / 1e6, bytes_w4 / w4.median_ms / 1e6, speedup);
      std::fflush(stdout);
      for (int which = 0; which < 2; ++which) {
        const auto& st = which ? w4 : f16;
        double bytes = which ? bytes_w4 : bytes_f16;
        out["results"].push_back({{"op", which ? "w4a16" : "f16"},
                                  {"backend", to_string(ctx.backend())},
                                  {"m", s.m}, {"n", s.n}, {"k", s.k},
                                  {"group", which ? group : 0},
                                  {"config", to_string(path)},
                                  {"config_source", "heuristic"},
                                  {"median_ms", st.median_ms}, {"p20_ms", st.p20_ms}, {"p80_ms", st.p80_ms},
                                  {"bytes", bytes}, {"flops", flops},
                                  {"gbps", bytes / st.median_ms / 1e6},
                                  {"tflops", flops / st.median_ms / 1e9},
                                  {"speedup_vs_f16", which ? speedup : 1.0}});
      }
    }
    if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_gemm: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
