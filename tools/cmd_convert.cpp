// cmd_convert.cpp — `lowbit convert --to FORMAT | --from FORMAT INPUT OUTPUT`: quantize the float
// tensors of an .npy/.safetensors file into a .safetensors file of codes and scales, or back to
// float32 (library: lowbit::io::quantize_file / dequantize_file).
#include "host/log.hpp"
#include "lowbit/io.hpp"
#include "tools/cli.hpp"
#include "tools/progress_bar.hpp"

namespace lowbit::cli {

namespace {

struct ConvertFlags {
  std::string to, from, input, output;
  bool no_saturate = false, packed = false;
  DeviceFlags device;
};

std::string format_names() {
  std::string s;
  for (const auto& f : all_formats()) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

void summarize(const std::vector<io::ConvertedTensor>& done, const std::string& what, const std::string& out) {
  size_t q = 0;
  for (const auto& t : done) {
    if (t.quantized) ++q;
    log().debug("{} '{}' {}", t.quantized ? what : "copied", t.name, shape_str(t.shape));
  }
  log().info("wrote {}: {} tensor(s) {}, {} copied", out, q, what, done.size() - q);
}

int run_convert(const ConvertFlags& f) {
  if (f.to.empty() == f.from.empty())
    throw Error(ErrorCode::InvalidArgument, "convert needs exactly one of --to FORMAT or --from FORMAT");
  if (!f.from.empty() && (f.no_saturate || f.packed))
    throw Error(ErrorCode::InvalidArgument, "--no-saturate and --packed apply to --to only (--from reads them from the file)");
  Format fmt = parse_format(f.to.empty() ? f.from : f.to);
  // Check what can be checked before a device is brought up.
  io::check_convert_paths(f.input, f.output, !f.to.empty());
  if (!f.to.empty() && f.no_saturate && format_info(fmt).block)
    throw Error(ErrorCode::InvalidArgument, f.to + " always saturates: --no-saturate applies only to plain FP8 formats");
  Context ctx = make_context(f.device);
  if (!f.to.empty()) {
    io::QuantizeFileOptions o;
    o.format = fmt;
    o.saturate = !f.no_saturate;
    o.packed = f.packed;
    o.progress = make_progress_bar("convert", "tensors");
    summarize(io::quantize_file(ctx, f.input, f.output, o), std::string("quantized to ") + f.to, f.output);
  } else {
    io::DequantizeFileOptions o;
    o.format = fmt;
    o.progress = make_progress_bar("convert", "tensors");
    summarize(io::dequantize_file(ctx, f.input, f.output, o), "dequantized to float32", f.output);
  }
  return 0;
}

}  // namespace

Command add_convert_command(CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "convert",
      "Quantize the float tensors of an .npy/.safetensors file (--to), or dequantize a converted file back "
      "to float32 (--from)");
  auto f = std::make_shared<ConvertFlags>();
  auto* to = cmd->add_option("--to", f->to, "quantize to FORMAT: " + format_names());
  auto* from = cmd->add_option("--from", f->from, "dequantize a file holding FORMAT codes to float32");
  to->excludes(from);
  cmd->add_flag("--no-saturate", f->no_saturate,
                "plain FP8 only: overflow becomes NaN (e4m3, fnuz) or inf (e5m2) instead of +-max");
  cmd->add_flag("--packed", f->packed, "store packed codes (FP4: 2 per byte, FP6: 4 per 3 bytes)");
  add_device_flags(*cmd, f->device);
  cmd->add_option("INPUT", f->input, "input .npy (float32/float16) or .safetensors")->required();
  cmd->add_option("OUTPUT", f->output, "output .safetensors (--to); .npy or .safetensors (--from)")->required();
  cmd->footer(
      "Output of --to for a tensor x: FP8 formats write x (U8 codes); MX and NVFP4 write x.codes and x.scales\n"
      "(and x.tensor_scale for nvfp4). An .npy input is named x. Non-float tensors are copied unchanged.");
  return {cmd, [f] { return run_convert(*f); }};
}

}  // namespace lowbit::cli
