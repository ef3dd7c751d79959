// quantize_file.cpp — `lowbit convert --to`: quantize every float tensor of an .npy/.safetensors
// file on a Context and write codes, scales and the metadata needed to read them back.
#include <nlohmann/json.hpp>

#include "host/io/atomic_file.hpp"
#include "host/io/convert_common.hpp"
#include "host/log.hpp"

namespace lowbit::io {

using namespace detail;

const char* library_version() { return LOWBIT_VERSION_STRING; }

static bool quantizable(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }

static std::vector<uint8_t> fetch(Context& ctx, const Buffer& b) { return ctx.download<uint8_t>(b); }

std::vector<ConvertedTensor> quantize_file(Context& ctx, const std::filesystem::path& input,
                                           const std::filesystem::path& output, const QuantizeFileOptions& o) {
  const FormatInfo& fi = format_info(o.format);
  if (file_kind(output, "output") != FileKind::Safetensors)
    throw Error(ErrorCode::InvalidArgument, "output '" + output.string() + "' must be a .safetensors file");
  bool npy_input = file_kind(input, "input") == FileKind::Npy;
  if (!o.saturate && fi.block)
    throw Error(ErrorCode::InvalidArgument, std::string(fi.name) + " always saturates: --no-saturate applies only to plain FP8 formats");
  check_output_writable(output);
  SourceFile src = open_source(input);
  if (auto it = src.metadata.find(kMetaFormat); it != src.metadata.end())
    throw Error(ErrorCode::InvalidArgument, input.string() + " already holds quantized " + it->second +
                                                " data (convert it back with --from " + it->second + ")");

  SafetensorsWriter w;
  nlohmann::ordered_json meta_tensors = nlohmann::ordered_json::object();
  std::vector<ConvertedTensor> done;
  for (const SourceTensor& t : src.tensors) {
    if (!quantizable(t.dtype)) {
      if (npy_input)
        throw Error(ErrorCode::InvalidArgument, input.string() + " holds " + to_string(t.dtype) +
                                                    " data; convert --to needs float32 or float16");
      if (is_float(t.dtype)) log().warn("tensor '{}' is {}: copied unchanged (only F32/F16/BF16 are quantized)", t.name, to_string(t.dtype));
      w.add(t.name, t.dtype, t.shape, t.data);
      done.push_back({t.name, t.shape, false});
      continue;
    }
    Buffer x = ctx.upload(t.dtype, t.shape, t.data.data(), t.data.size());
    QuantizeOptions qo;
    qo.saturate = o.saturate;
    qo.packed = o.packed;
    QTensor q = ctx.quantize(x, o.format, qo);
    w.add_owned(codes_name(t.name, o.format), DType::U8, q.codes.shape(), fetch(ctx, q.codes));
    if (fi.block) w.add_owned(scales_name(t.name), DType::U8, q.scales.shape(), fetch(ctx, q.scales));
    if (fi.tensor_scale) w.add_owned(tensor_scale_name(t.name), DType::F32, {1}, fetch(ctx, q.tensor_scale));
    meta_tensors[t.name] = {{"shape", t.shape}, {"dtype", safetensors_dtype(t.dtype)}};
    done.push_back({t.name, t.shape, true});
    log().debug("quantized '{}' {} {} -> {}", t.name, shape_str(t.shape), to_string(t.dtype), fi.name);
  }
  if (meta_tensors.empty())
    throw Error(ErrorCode::InvalidArgument, input.string() + " has no float32/float16/bfloat16 tensor to convert");

  for (const auto& [k, v] : src.metadata)
    if (k.rfind("lowbit.", 0) != 0) w.set_metadata(k, v);  // keep the input's own metadata
  w.set_metadata(kMetaVersion, library_version());
  w.set_metadata(kMetaFormat, fi.name);
  w.set_metadata(kMetaPacked, o.packed ? "true" : "false");
  w.set_metadata(kMetaSaturate, o.saturate ? "true" : "false");
  w.set_metadata(kMetaTensors, meta_tensors.dump());
  w.write(output);
  return done;
}

}  // namespace lowbit::io
