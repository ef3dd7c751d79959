// cmd_run.cpp — `lowbit run linear --checkpoint C --layer NAME --input X.npy --output Y.npy [--f16]
// [--backend B] [--device D]`: one linear layer Y = X · Wᵀ (+ bias) on a device, from a lowbit (W4A16 or
// QoQ W4A8) or GPTQ/AWQ checkpoint; Y is written as float32 .npy. `run attention` lives in cmd_run_attention.cpp.
#include <bit>
#include <cstring>
#include <filesystem>

#include "lowbit/checkpoint.hpp"
#include "lowbit/io.hpp"
#include "lowbit_formats.h"
#include "tools/cli.hpp"
#include "tools/npy_input.hpp"

namespace lowbit::cli {

namespace {

// X as fp16 [M, K] from a float16/32/64 .npy ([K] is taken as one row).
std::vector<uint16_t> read_activations(const std::string& path, int64_t& m, int64_t& k) {
  HalfArray x = read_npy_as_f16(path, "X");
  const Shape& s = x.shape;
  if (s.size() != 2 && s.size() != 1)
    throw Error(ErrorCode::InvalidArgument, path + ": X must be [M, K], got " + shape_str(s));
  m = s.size() == 2 ? s[0] : 1;
  k = s.back();
  return std::move(x.f16);
}

}  // namespace

Command add_run_command(CLI::App& root) {
  auto* cmd = root.add_subcommand("run", "Run one op on a device");
  cmd->require_subcommand(1);
  auto* lin = cmd->add_subcommand("linear", "Y = X · Wᵀ (+ bias) for one int4 (W4A16) or QoQ (W4A8) layer of a checkpoint");
  struct Args {
    std::string checkpoint, layer, input, output, scheme;
    bool f16 = false;
    DeviceFlags dev;
  };
  auto a = std::make_shared<Args>();
  lin->add_option("--checkpoint", a->checkpoint, "lowbit checkpoint, or a GPTQ / AWQ file or directory")->required();
  lin->add_option("--layer", a->layer, "layer name (NAME of NAME.qweight)")->required();
  lin->add_option("--input", a->input, "X: float16 or float32 .npy [M, K]")->required();
  lin->add_option("--output", a->output, "Y: float32 .npy [M, N]")->required();
  lin->add_option("--scheme", a->scheme, "gptq | awq when a foreign checkpoint has no config");
  lin->add_flag("--f16", a->f16, "run the fp16 GEMM on the dequantized weights instead (baseline)");
  add_device_flags(*lin, a->dev);
  Command attn = add_run_attention_command(*cmd);
  return {cmd, [a, lin, attn] {
            if (attn.app->parsed()) return attn.run();
            if (!lin->parsed()) throw Error(ErrorCode::InvalidArgument, "run: unknown op (expected linear or attention)");
            check_output(a->output, "--output", ".npy", {a->input, a->checkpoint});
            int64_t m, k;
            auto x = read_activations(a->input, m, k);
            auto layer = ckpt::load_layer(a->checkpoint, a->layer, a->scheme);
            const int64_t n = layer.n();
            if (k != layer.k())
              throw Error(ErrorCode::InvalidArgument, a->input + ": X has K = " + std::to_string(k) + " but layer '" +
                                                          a->layer + "' expects K = " + std::to_string(layer.k()));
            Context ctx = make_context(a->dev);
            Buffer xb = ctx.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
            // The bias at the precision the checkpoint stores it: F32 stays fp32 (the epilogue adds it in fp32).
            const std::vector<float>& bias32 = layer.bias_f32;
            Buffer bias = !bias32.empty()        ? ctx.upload(DType::F32, {n}, bias32.data(), bias32.size() * 4)
                          : !layer.bias.empty() ? ctx.upload(DType::F16, {n}, layer.bias.data(), layer.bias.size() * 2)
                                                : Buffer{};
            Buffer y;
            if (a->f16) {
              auto wf = layer.qoq ? dequantize_qoq(*layer.qoq) : dequantize_w4(layer.w);
              std::vector<uint16_t> wh(wf.size());
              for (size_t i = 0; i < wf.size(); ++i) wh[i] = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(wf[i])));
              Buffer wb = ctx.upload(DType::F16, {n, k}, wh.data(), wh.size() * 2);
              ctx.wait();
              ctx.reset_timing();
              y = ctx.gemm_f16(xb, wb, bias, {.out = DType::F32});
            } else if (layer.qoq) {
              // W4A8: the activations are quantized per token on the device (timed with the GEMM).
              W4A8Layer w8 = ctx.upload_qoq(*layer.qoq);
              w8.bias = bias;
              ctx.wait();
              ctx.reset_timing();
              y = ctx.gemm_w4a8(ctx.quantize_activations_int8(xb), w8, {.out = DType::F32});
            } else {
              W4Layer w4 = ctx.upload_w4(layer.w);
              w4.bias = bias;
              ctx.wait();
              ctx.reset_timing();
              y = ctx.gemm_w4a16(xb, w4, {.out = DType::F32});
            }
            const double ms = ctx.timing().device_ms;
            auto out = ctx.download<float>(y);
            io::write_npy(a->output, DType::F32, {m, n},
                          {reinterpret_cast<const uint8_t*>(out.data()), out.size() * 4});
            const std::string kernel = a->f16     ? "fp16 GEMM"
                                       : layer.qoq ? "W4A8 QoQ " + (layer.qoq->per_channel ? std::string("per channel")
                                                                                           : "group " + std::to_string(layer.qoq->group))
                                                   : "W4A16 group " + std::to_string(layer.w.group);
            print_run_summary("linear", "X " + shape_str({m, k}) + " · W " + shape_str({n, k}) + "ᵀ -> Y " +
                                            shape_str({m, n}) + ", " + kernel,
                              ctx, ms);
            return 0;
          },
          /*prints_report=*/true};
}

}  // namespace lowbit::cli
