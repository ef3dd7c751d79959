// quantize_file.cpp — `lowbit convert --to`: quantize every float tensor of an .npy/.safetensors
// file on a Context and write codes, scales and the metadata needed to read them back. The output is
// streamed: its header is computed from the input's shapes, then each tensor is quantized, written and
// freed in turn.
#include <nlohmann/json.hpp>

#include "host/io/convert_common.hpp"
#include "host/io/streaming.hpp"
#include "host/log.hpp"

namespace lowbit::io {

using namespace detail;

const char* library_version() { return LOWBIT_VERSION_STRING; }

static bool quantizable(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16; }

namespace {

// Declares the parts of tensor `t` quantized to `o.format`; they are computed when the first is written.
void add_quantized(SafetensorsWriter& w, Context& ctx, const SourceFile& src, const SourceTensor& t,
                   const QuantizeFileOptions& o) {
  const FormatInfo& fi = format_info(o.format);
  struct Part {
    std::string name;
    DType dtype;
    Shape shape;
    Buffer QTensor::*buffer;
  };
  std::vector<Part> parts = {{codes_name(t.name, o.format), DType::U8, codes_shape(o.format, t.shape, o.packed), &QTensor::codes}};
  if (fi.block) parts.push_back({scales_name(t.name), DType::U8, scales_shape(o.format, t.shape), &QTensor::scales});
  if (fi.tensor_scale) parts.push_back({tensor_scale_name(t.name), DType::F32, {1}, &QTensor::tensor_scale});
  auto q = shared_result<QTensor>(
      [&ctx, &t, &o, map = src.mapping] {
        Buffer x = ctx.upload(t.dtype, t.shape, t.data.data(), t.data.size());
        map->release(t.data);
        QuantizeOptions qo;
        qo.saturate = o.saturate;
        qo.packed = o.packed;
        QTensor r = ctx.quantize(x, o.format, qo);
        log().debug("quantized '{}' {} {} -> {}", t.name, shape_str(t.shape), to_string(t.dtype), format_info(o.format).name);
        return r;
      },
      int(parts.size()));
  for (const Part& p : parts)
    w.add_lazy(p.name, p.dtype, p.shape, [q, p, &ctx](const SafetensorsWriter::Sink& sink) {
      q->use([&](const QTensor& r) {
        const Buffer& b = r.*p.buffer;
        if (b.shape() != p.shape)
          throw Error(ErrorCode::Internal, "tensor '" + p.name + "': quantized to shape " + shape_str(b.shape()) +
                                               ", expected " + shape_str(p.shape));
        std::vector<uint8_t> bytes = ctx.download<uint8_t>(b);
        sink(bytes);
      });
    });
}

}  // namespace

std::vector<ConvertedTensor> quantize_file(Context& ctx, const std::filesystem::path& input,
                                           const std::filesystem::path& output, const QuantizeFileOptions& o) {
  const FormatInfo& fi = format_info(o.format);
  check_convert_paths(input, output, true);  // before anything is read
  bool npy_input = file_kind(input, "input") == FileKind::Npy;
  if (!o.saturate && fi.block)
    throw Error(ErrorCode::InvalidArgument, std::string(fi.name) + " always saturates: --no-saturate applies only to plain FP8 formats");
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
      w.add_lazy(t.name, t.dtype, t.shape, copy_then_release(src.mapping, t.data));
      done.push_back({t.name, t.shape, false});
      continue;
    }
    add_quantized(w, ctx, src, t, o);
    meta_tensors[t.name] = {{"shape", t.shape}, {"dtype", safetensors_dtype(t.dtype)}};
    done.push_back({t.name, t.shape, true});
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
  w.write(output, o.progress);
  return done;
}

}  // namespace lowbit::io
