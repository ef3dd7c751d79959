// cmd_bench.cpp — `lowbit bench --op f16|w4a16|w4a8|attention|kv_append|convert|copy [--shapes ...] [--json OUT]`:
// device-timed benchmarks (bench/ library) with the roofline and same-run peers; a table on stdout
// and optionally JSON (schema in README, Benchmarks).
#include <cstdio>

#include "bench/bench.hpp"
#include "tools/arg_check.hpp"
#include "tools/cli.hpp"
#include "tools/progress_bar.hpp"

namespace lowbit::cli {

Command add_bench_command(CLI::App& root) {
  auto* cmd = root.add_subcommand("bench", "Benchmark an op on a device (median, p20, p80; GB/s, TFLOP/s, roofline)");
  struct Args {
    std::string op, shapes, json, baseline, formats, batch, context, q_len, kv_heads, kv_formats, peak_shape,
        convert_dtype = "f32", pipeline = "pipelined", config;
    double copy_mib = 256;
    double flush_mib = 0;
    bench::Options o;
    DeviceFlags dev;
  };
  auto a = std::make_shared<Args>();
  std::string ops;
  for (const auto& n : bench::op_names()) ops += (ops.empty() ? "" : "|") + n;
  cmd->add_option("--op", a->op, ops)->required();
  cmd->add_option("--shapes", a->shapes,
                  "GEMM: M,N,K[;M,N,K...] (default: M 1..256 on Llama-3-8B layers); convert: the tensor [N,K] "
                  "of M,N,K, or ROWS,COLS");
  add_device_flags(*cmd, a->dev);
  cmd->add_option("--warmup", a->o.warmup, "untimed runs before timing")->capture_default_str();
  cmd->add_option("--iters", a->o.iters, "timed runs (median, p20, p80 over them)")->capture_default_str();
  cmd->add_option("--json", a->json, "also write the results as JSON to this file");
  cmd->add_option("--group", a->o.group, "w4a16 / w4a8: int4 group size along K")->capture_default_str();
  cmd->add_option("--pipeline", a->pipeline,
                  "w4a16: K pipeline of the measured run: pipelined (the default depth), serial (stages = 1, "
                  "same tile), or both (the row gets serial_ms and dequant_hidden_pct)")
      ->capture_default_str();
  cmd->add_flag("--deterministic", a->dev.deterministic,
                "run on a deterministic (batch-invariant) context: GEMMs on the tiled path with K slices from K "
                "alone, decode attention split by context length alone");
  cmd->add_option("--baseline", a->baseline, "GEMM peer to add: clblast (OpenCL backend, needs CLBlast)");
  cmd->add_option("--formats", a->formats, "convert: formats (default e4m3,mxfp4,nvfp4)");
  cmd->add_option("--dtype", a->convert_dtype, "convert: float side f32 (default) | f16 | bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->add_option("--batch", a->batch, "attention, kv_append: sequences, comma list (default 1)");
  cmd->add_option("--context", a->context, "attention: keys per sequence, comma list (default 1024)");
  cmd->add_option("--q-len", a->q_len,
                  "attention: queries per sequence, comma list (1 = decode; default 1); kv_append: new tokens per "
                  "sequence (default: decode steps of batch 1 and 16, and a 512-token prefill)");
  cmd->add_option("--q-heads", a->o.q_heads, "attention: query heads")->capture_default_str();
  cmd->add_option("--kv-heads", a->kv_heads, "attention, kv_append: KV heads, comma list (default 8; = --q-heads is GQA 1)");
  cmd->add_option("--head-dim", a->o.head_dim, "attention: head dimension")->capture_default_str();
  cmd->add_option("--page-size", a->o.page_size, "attention: tokens per KV page")->capture_default_str();
  cmd->add_option("--kv-format", a->kv_formats, "attention: KV formats (fp16 is always measured; default fp16,int8,int4,e4m3)");
  cmd->add_option("--copy-mib", a->copy_mib, "size of the copy that measures peak bandwidth (capped by the device)")
      ->capture_default_str();
  cmd->add_option("--warmup-ms", a->o.warmup_ms,
                  "busy warm-up before each row's timing, in ms (GPU clocks ramp under load; default 100 on GPUs, 0 "
                  "on CPU devices)");
  cmd->add_option("--flush-mib", a->flush_mib,
                  "a device read of this many MiB (an fp16 GEMV: L2 left clean) ahead of every timed iteration, so that a GPU's L2 holds no weights "
                  "of the last one (0 = none; e.g. 256 on an H100, whose 50 MB L2 holds an int4 4096x14336 layer)")
      ->capture_default_str();
  cmd->add_option("--config", a->config,
                  "kernel config forced on every op of the run (autotuner knobs, e.g. \"variant=3\" for the "
                  "lane-reduced int4 GEMV; default: the tuning lookup)");
  cmd->add_option("--peak-shape", a->peak_shape, "M,N,K of the calibration fp16 GEMM for the compute peak, or 0 for none (default 256,1024,1024)");
  return {cmd, [a] {
            bench::Options& o = a->o;
            o.op = a->op;
            bench::check_op(o.op);  // an unknown op fails before any device work
            check_choice("--pipeline", a->pipeline, {"pipelined", "serial", "both"});
            o.pipeline = bench::parse_pipeline(a->pipeline);
            if (!a->shapes.empty()) o.shapes = bench::parse_shapes(a->shapes, o.op == "convert");
            if (!a->baseline.empty()) o.baselines = bench::split_list(a->baseline);
            if (!a->formats.empty()) o.formats = bench::split_list(a->formats);
            o.convert_dtype = a->convert_dtype;
            for (const auto& f : o.formats) parse_format(f);
            if (!a->batch.empty()) o.batch = bench::parse_int_list(a->batch, "--batch");
            if (!a->context.empty()) o.context = bench::parse_int_list(a->context, "--context");
            if (!a->q_len.empty()) o.q_len = bench::parse_int_list(a->q_len, "--q-len");
            if (!a->kv_heads.empty()) o.kv_heads = bench::parse_int_list(a->kv_heads, "--kv-heads");
            if (!a->kv_formats.empty()) o.kv_formats = bench::split_list(a->kv_formats);
            for (const auto& f : o.kv_formats) parse_kv_format(f);
            if (o.q_heads <= 0 || o.head_dim <= 0 || o.page_size <= 0 || o.group <= 0)
              throw Error(ErrorCode::InvalidArgument, "--q-heads, --head-dim, --page-size and --group must be > 0");
            if (!(a->copy_mib > 0)) throw Error(ErrorCode::InvalidArgument, "--copy-mib must be > 0");
            o.copy_bytes = uint64_t(a->copy_mib * 1048576.0);
            if (!(a->o.warmup_ms >= 0) && a->o.warmup_ms != -1) throw Error(ErrorCode::InvalidArgument, "--warmup-ms must be >= 0");
            if (!(a->flush_mib >= 0)) throw Error(ErrorCode::InvalidArgument, "--flush-mib must be >= 0");
            o.flush_bytes = uint64_t(a->flush_mib * 1048576.0);
            if (a->peak_shape == "0")
              o.peak_shape = {};
            else if (!a->peak_shape.empty())
              o.peak_shape = bench::parse_shapes(a->peak_shape).at(0);
            if (!a->json.empty()) check_output(a->json, "--json");
            const KernelConfig forced = parse_kernel_config(a->config.empty() ? "default" : a->config);
            Context ctx = make_context(a->dev);
            if (!a->config.empty()) ctx.set_kernel_config(forced);
            // A progress bar on stderr when it is a terminal; the number of rows is known only at the end.
            ProgressFn bar = make_progress_bar("bench " + o.op, "rows");
            size_t rows = 0;
            auto progress = [&](const bench::Result& r) {
              ++rows;
              if (!bar) return;
              char ms[32];
              std::snprintf(ms, sizeof ms, "%.3f ms", r.stats.median_ms);
              ProgressEvent e;
              e.done = rows;
              e.item = r.op + " " + r.shape.dump() + " " + (r.error.empty() ? ms : "error");
              bar(e);
            };
            bench::Report rep = bench::run_bench(ctx, o, progress);
            if (bar) {
              ProgressEvent last;
              last.done = last.total = rows;
              bar(last);  // ends the line before the table
            }
            bench::print_table(rep, stdout);
            if (!a->json.empty()) bench::write_json(bench::report_json(rep), a->json);
            return 0;
          },
          /*prints_report=*/true};
}

}  // namespace lowbit::cli
