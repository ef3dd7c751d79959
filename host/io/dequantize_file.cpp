// dequantize_file.cpp — `lowbit convert --from`: read a file written by quantize_file, check its
// metadata and part shapes, dequantize every tensor to float32 and write .npy or .safetensors.
#include <nlohmann/json.hpp>
#include <set>

#include "host/io/atomic_file.hpp"
#include "host/io/convert_common.hpp"
#include "host/io/shape_limits.hpp"
#include "host/io/strict_json.hpp"
#include "host/log.hpp"

namespace lowbit::io {

using namespace detail;

namespace {

struct QuantizedMeta {
  std::string name;
  Shape shape;
};

[[noreturn]] void bad(const std::filesystem::path& p, const std::string& m) {
  throw Error(ErrorCode::Io, p.string() + ": " + m);
}

std::vector<QuantizedMeta> read_tensor_meta(const std::filesystem::path& p, const std::string& text) {
  const std::string where = std::string("metadata '") + kMetaTensors + "'";
  nlohmann::json j = parse_strict_json(text, p.string() + ": " + where);
  if (!j.is_object()) bad(p, where + " is not an object");
  std::vector<QuantizedMeta> r;
  for (const auto& [name, v] : j.items()) {
    if (!v.is_object() || !v.contains("shape") || !v["shape"].is_array())
      bad(p, where + ": tensor '" + name + "' lacks its shape");
    QuantizedMeta m{name, {}};
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > kMaxElements)
        bad(p, where + ": shape of tensor '" + name + "' is not a list of non-negative integers up to 2^62");
      m.shape.push_back(d.get<int64_t>());
    }
    if (!bounded_numel(m.shape)) bad(p, where + ": shape " + shape_str(m.shape) + " of tensor '" + name + "' overflows");
    r.push_back(std::move(m));
  }
  return r;
}

// "true" or "false"; anything else is a file lowbit did not write.
bool read_flag(const std::filesystem::path& p, const std::map<std::string, std::string>& md, const char* key) {
  auto it = md.find(key);
  if (it == md.end() || it->second == "false") return false;
  if (it->second == "true") return true;
  bad(p, std::string("metadata '") + key + "' is '" + it->second + "', expected true or false");
}

// The part `name` of the file, checked to be U8/F32 with the expected shape; uploaded to the device.
Buffer load_part(Context& ctx, const SafetensorsFile& f, const std::string& name, DType dtype, const Shape& shape) {
  const TensorEntry* t = f.find(name);
  if (!t) bad(f.path(), "tensor '" + name + "' is missing");
  if (t->dtype != dtype || t->shape != shape)
    bad(f.path(), "tensor '" + name + "' is " + safetensors_dtype(t->dtype) + " " + shape_str(t->shape) +
                      ", expected " + safetensors_dtype(dtype) + " " + shape_str(shape));
  Bytes b = f.bytes(*t);
  return ctx.upload(dtype, shape, b.data(), b.size());
}

}  // namespace

std::vector<ConvertedTensor> dequantize_file(Context& ctx, const std::filesystem::path& input,
                                             const std::filesystem::path& output, Format format) {
  const FormatInfo& fi = format_info(format);
  if (file_kind(input, "input") != FileKind::Safetensors)
    throw Error(ErrorCode::InvalidArgument, "convert --from reads a .safetensors file, got '" + input.string() + "'");
  bool npy_out = file_kind(output, "output") == FileKind::Npy;
  check_output_writable(output);
  SafetensorsFile f = SafetensorsFile::open(input);
  const auto& md = f.metadata();
  auto fmt_it = md.find(kMetaFormat);
  if (fmt_it == md.end())
    bad(input, std::string("no '") + kMetaFormat + "' metadata: not written by `lowbit convert --to`");
  if (fmt_it->second != fi.name)
    throw Error(ErrorCode::InvalidArgument, input.string() + " holds " + fmt_it->second + " data, not " + fi.name);
  auto tensors_it = md.find(kMetaTensors);
  if (tensors_it == md.end()) bad(input, std::string("no '") + kMetaTensors + "' metadata");
  bool packed = read_flag(input, md, kMetaPacked);

  std::vector<QuantizedMeta> qs = read_tensor_meta(input, tensors_it->second);
  if (qs.empty()) bad(input, "holds no quantized tensor");
  if (npy_out && qs.size() != 1)
    throw Error(ErrorCode::InvalidArgument, input.string() + " holds " + std::to_string(qs.size()) +
                                                " quantized tensors: write them to a .safetensors output");
  std::set<std::string> parts;  // every tensor of the file that belongs to a quantized tensor
  SafetensorsWriter w;
  std::vector<ConvertedTensor> done;
  std::vector<uint8_t> last;
  for (const QuantizedMeta& m : qs) {
    QTensor q;
    q.format = format;
    q.packed = packed;
    q.shape = m.shape;
    q.codes = load_part(ctx, f, codes_name(m.name, format), DType::U8, codes_shape(format, m.shape, packed));
    parts.insert(codes_name(m.name, format));
    if (fi.block) {
      q.scales = load_part(ctx, f, scales_name(m.name), DType::U8, scales_shape(format, m.shape));
      parts.insert(scales_name(m.name));
    }
    if (fi.tensor_scale) {
      q.tensor_scale = load_part(ctx, f, tensor_scale_name(m.name), DType::F32, {1});
      parts.insert(tensor_scale_name(m.name));
    }
    last = ctx.download<uint8_t>(ctx.dequantize(q, DType::F32));
    if (!npy_out) w.add_owned(m.name, DType::F32, m.shape, std::move(last));
    done.push_back({m.name, m.shape, true});
  }

  size_t others = 0;
  for (const auto& t : f.tensors()) {
    if (parts.count(t.name)) continue;
    ++others;
    if (!npy_out) {
      w.add(t.name, t.dtype, t.shape, f.bytes(t));
      done.push_back({t.name, t.shape, false});
    }
  }
  if (npy_out) {
    if (others) log().warn("{} other tensor(s) of {} are not written to the .npy output", others, input.string());
    write_npy(output, DType::F32, qs[0].shape, Bytes(last.data(), last.size()));
    return done;
  }
  for (const auto& [k, v] : md)
    if (k.rfind("lowbit.", 0) != 0) w.set_metadata(k, v);
  w.write(output);
  return done;
}

}  // namespace lowbit::io
