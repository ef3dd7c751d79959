// bench.hpp — the benchmark driver behind `lowbit bench`: options, the op registry (one runner
// function per op), and run_bench, which measures the roofline (copy + a calibration fp16 GEMM) and
// the asked op with its same-run peers (our fp16 GEMM, fp16 KV, CLBlast).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bench/report.hpp"

namespace lowbit::bench {

struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
};
// "M,N,K[;M,N,K...]" (convert also takes "ROWS,COLS" pairs, stored as m = ROWS, n = 0, k = COLS).
std::vector<GemmShape> parse_shapes(const std::string& s, bool allow_pairs = false);
// "a,b,c" -> {a, b, c}; each must be > 0. `what` names the flag in errors.
std::vector<int> parse_int_list(const std::string& s, const char* what);
std::vector<std::string> split_list(const std::string& s);

// W4A16 K pipeline of `lowbit bench --pipeline`: the default depth, the serial variant (stages = 1), or both
// (the row gets serial_ms and dequant_hidden_pct).
enum class Pipeline { Pipelined, Serial, Both };
// "pipelined" | "serial" | "both" (throws InvalidArgument for anything else).
Pipeline parse_pipeline(const std::string& s);
const char* to_string(Pipeline p);

struct Options {
  std::string op;                  // f16 | w4a16 | w4a8 | attention | kv_append | convert | copy
  std::vector<GemmShape> shapes;   // empty: the op's defaults
  int warmup = 3, iters = 10;
  double warmup_ms = -1;            // busy warm-up before each row's timing; < 0: default_warmup_ms(device)
  int group = 128;                 // int4 group size along K (w4a16; w4a8's level-2 group)
  Pipeline pipeline = Pipeline::Pipelined;  // w4a16: K-pipeline depth of the measured run(s)
  std::vector<std::string> baselines;  // "clblast"
  // convert
  std::vector<std::string> formats = {"e4m3", "mxfp4", "nvfp4"};
  std::string convert_dtype = "f32";  // convert: float side (f32: a 4096x4096 tensor is 64 MiB)
  // attention: cartesian product of batch x context x q_len x kv_heads, for each KV format (fp16 always
  // first); batch and q_len empty = {1}. kv_append: batch x q_len new tokens per sequence x kv_heads;
  // both empty = the decode steps of batch 1 and 16 and a 512-token prefill.
  std::vector<int> batch, context = {1024}, q_len, kv_heads = {8};
  int q_heads = 32, head_dim = 128, page_size = 16;
  std::vector<std::string> kv_formats = {"fp16", "int8", "int4", "e4m3"};
  // roofline
  uint64_t copy_bytes = uint64_t(256) << 20;  // capped by the device's max buffer range
  GemmShape peak_shape = {256, 1024, 1024};  // calibration fp16 GEMM for the compute peak (m = 0: none)
  // Cache flush: a device read of this many bytes (an fp16 GEMV, M = 1: clean L2 lines, nothing dirty to
  // write back) ahead of every timed iteration (0: none). On a GPU whose L2
  // holds a layer's weights (an H100's 50 MB holds a 4096x14336 int4 layer), repeated runs otherwise read
  // them from L2 and the "% of DRAM bandwidth" is not one.
  uint64_t flush_bytes = 0;
};

// The ops `--op` accepts, in help order.
const std::vector<std::string>& op_names();
// Throws Error(InvalidArgument) for an unknown op, before any device work.
void check_op(const std::string& op);

// Runs the benchmark on ctx. `progress` (may be empty) is called after each row.
Report run_bench(Context& ctx, const Options& o, const std::function<void(const Result&)>& progress = {});

}  // namespace lowbit::bench
