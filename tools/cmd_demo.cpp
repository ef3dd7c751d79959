// cmd_demo.cpp — `lowbit demo [--m M] [--n N] [--k K] [--group G] [--checkpoint C --layer NAME]`:
// quantizes a layer (RTN from generated weights, or a layer of a checkpoint), runs W4A16 and the fp16
// GEMM on every backend present, checks each result against the CPU reference and prints a timing
// table with the speed-up over fp16.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <random>

#include "bench/timing.hpp"
#include "lowbit/checkpoint.hpp"
#include "lowbit_formats.h"
#include "tools/cli.hpp"

namespace lowbit::cli {

namespace {

uint16_t f2h(float f) { return uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(f))); }

// max |a - b| / max |b|
double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    num = std::max(num, double(std::fabs(a[i] - b[i])));
    den = std::max(den, double(std::fabs(b[i])));
  }
  return den > 0 ? num / den : num;
}

Context context_on(Backend b) {
  ContextOptions o;
  o.backend = b;
  return Context::create(o);
}

}  // namespace

Command add_demo_command(CLI::App& root) {
  auto* cmd = root.add_subcommand("demo", "Quantize a layer to int4, run it on every backend, check and time it");
  struct Args {
    int64_t m = 1, n = 4096, k = 4096;
    int group = 128, iters = 10;
    std::string checkpoint, layer;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--m", a->m, "rows of X (tokens)")->check(CLI::Range(1, 4096));
  cmd->add_option("--n", a->n, "output features (generated layer)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--k", a->k, "input features (generated layer)")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--group", a->group, "RTN group size along K");
  cmd->add_option("--iters", a->iters, "timed runs per op")->check(CLI::Range(1, 1000));
  cmd->add_option("--checkpoint", a->checkpoint, "use a layer of this checkpoint instead of generated weights");
  cmd->add_option("--layer", a->layer, "layer name in --checkpoint");
  return {cmd, [a] {
            W4Host w;
            std::vector<uint16_t> bias;
            if (!a->checkpoint.empty()) {
              if (a->layer.empty()) throw Error(ErrorCode::InvalidArgument, "--checkpoint needs --layer");
              auto l = ckpt::load_layer(a->checkpoint, a->layer);
              w = std::move(l.w);
              bias = std::move(l.bias);
              std::printf("layer %s of %s (%s): N=%ld K=%ld group=%d %s\n", a->layer.c_str(), a->checkpoint.c_str(),
                          l.source.c_str(), long(w.n), long(w.k), w.group, w.sym ? "sym" : "asym");
            } else {
              std::mt19937 rng(0);
              std::normal_distribution<float> nd(0.0f, 0.02f);
              std::vector<float> wf(size_t(a->n * a->k));
              for (auto& v : wf) v = nd(rng);
              w = quantize_w4_rtn(wf.data(), a->n, a->k, a->group, true);
              std::printf("generated layer: N=%ld K=%ld, RTN int4 symmetric, group %d\n", long(a->n), long(a->k), a->group);
            }
            // fp16 weights for the baseline: the dequantized int4 weights
            auto deq = dequantize_w4(w);
            std::vector<uint16_t> wh(deq.size());
            for (size_t i = 0; i < deq.size(); ++i) wh[i] = f2h(deq[i]);
            std::mt19937 rng(1);
            std::normal_distribution<float> nd(0.0f, 1.0f);
            std::vector<uint16_t> x(size_t(a->m * w.k));
            for (auto& v : x) v = f2h(nd(rng));

            Context cpu = context_on(Backend::CPU);
            auto reference = cpu.download<float>(cpu.gemm_w4a16(cpu.upload(DType::F16, {a->m, w.k}, x.data(), x.size() * 2),
                                                                cpu.upload_w4(w, bias), {.out = DType::F32}));
            double w4_mb = double(w.qweight.size() * 4 + w.scales.size() * 2 + w.zeros.size()) / 1e6;
            double f16_mb = double(wh.size() * 2) / 1e6;
            std::printf("X: M=%ld; weights: int4 %.1f MB vs fp16 %.1f MB\n\n", long(a->m), w4_mb, f16_mb);
            std::printf("%-8s %-34s %11s %11s %9s %12s %s\n", "backend", "device", "w4a16 ms", "fp16 ms", "speedup",
                        "err vs cpu", "check");
            int failures = 0;
            for (const auto& rep : probe_backends()) {
              if (!rep.available) {
                std::printf("%-8s %-34s (absent: %s)\n", to_string(rep.backend), "-", rep.reason.c_str());
                continue;
              }
              Context ctx = context_on(rep.backend);
              Buffer xb = ctx.upload(DType::F16, {a->m, w.k}, x.data(), x.size() * 2);
              W4Layer layer = ctx.upload_w4(w, bias);
              Buffer wb = ctx.upload(DType::F16, {w.n, w.k}, wh.data(), wh.size() * 2);
              Buffer bb;
              if (!bias.empty()) bb = ctx.upload(DType::F16, {w.n}, bias.data(), bias.size() * 2);
              auto y4 = ctx.download<float>(ctx.gemm_w4a16(xb, layer, {.out = DType::F32}));
              auto y16 = ctx.download<float>(ctx.gemm_f16(xb, wb, bb, {.out = DType::F32}));
              double e4 = rel_err(y4, reference), e16 = rel_err(y16, reference);
              bool ok = e4 < 1e-4 && e16 < 2e-3;  // fp32 accumulation; fp16 weights round to 2^-11
              failures += !ok;
              int iters = rep.backend == Backend::CPU ? std::min(a->iters, 3) : a->iters;
              double t4 = bench::time_op(ctx, [&] { ctx.gemm_w4a16(xb, layer); }, 2, iters).median_ms;
              double t16 = bench::time_op(ctx, [&] { ctx.gemm_f16(xb, wb, bb); }, 2, iters).median_ms;
              std::string name = ctx.device_info().name.substr(0, 34);
              std::printf("%-8s %-34s %11.3f %11.3f %8.2fx %12.2e %s\n", to_string(rep.backend), name.c_str(), t4, t16,
                          t16 / t4, e4, ok ? "ok" : "MISMATCH");
              std::fflush(stdout);
            }
            std::printf("\nerr vs cpu: max |y - y_cpu| / max |y_cpu| of W4A16 (fp32 output); times are device "
                        "medians (GPU timestamps / OpenCL events / wall clock on cpu).\n");
            if (failures) throw Error(ErrorCode::Internal, std::to_string(failures) + " backend(s) disagree with the CPU reference");
            return 0;
          },
          /*prints_report=*/true};
}

}  // namespace lowbit::cli
