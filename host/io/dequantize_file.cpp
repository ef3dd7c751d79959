// dequantize_file.cpp — `lowbit convert --from`: read a file written by quantize_file, check its
// metadata and part shapes, dequantize every tensor to float32 and write .npy or .safetensors (streamed:
// each tensor is dequantized, written and freed in turn).
#include <nlohmann/json.hpp>
#include <set>

#include "host/io/convert_common.hpp"
#include "host/io/shape_limits.hpp"
#include "host/io/strict_json.hpp"
#include "host/io/streaming.hpp"
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

// The part `name` of the file, checked to be `dtype` with the expected shape.
const TensorEntry& part_entry(const SafetensorsFile& f, const std::string& name, DType dtype, const Shape& shape) {
  const TensorEntry* t = f.find(name);
  if (!t) bad(f.path(), "tensor '" + name + "' is missing");
  if (t->dtype != dtype || t->shape != shape)
    bad(f.path(), "tensor '" + name + "' is " + safetensors_dtype(t->dtype) + " " + shape_str(t->shape) +
                      ", expected " + safetensors_dtype(dtype) + " " + shape_str(shape));
  return *t;
}

// A quantized tensor of the file: its parts, checked up front, dequantized on demand.
struct QuantizedParts {
  QuantizedMeta meta;
  const TensorEntry* codes = nullptr;
  const TensorEntry* scales = nullptr;
  const TensorEntry* tensor_scale = nullptr;
};

QuantizedParts find_parts(const SafetensorsFile& f, const QuantizedMeta& m, Format format, bool packed) {
  const FormatInfo& fi = format_info(format);
  QuantizedParts p{m};
  p.codes = &part_entry(f, codes_name(m.name, format), DType::U8, codes_shape(format, m.shape, packed));
  if (fi.block) p.scales = &part_entry(f, scales_name(m.name), DType::U8, scales_shape(format, m.shape));
  if (fi.tensor_scale) p.tensor_scale = &part_entry(f, tensor_scale_name(m.name), DType::F32, {1});
  return p;
}

// float32 bytes of the dequantized tensor; the input's pages of its parts are released.
std::vector<uint8_t> dequantized(Context& ctx, const SafetensorsFile& f, const QuantizedParts& p, Format format,
                                 bool packed) {
  auto upload = [&](const TensorEntry* t) {
    if (!t) return Buffer();
    Bytes b = f.bytes(*t);
    Buffer buf = ctx.upload(t->dtype, t->shape, b.data(), b.size());
    f.mapping()->release(b);
    return buf;
  };
  QTensor q;
  q.format = format;
  q.packed = packed;
  q.shape = p.meta.shape;
  q.codes = upload(p.codes);
  q.scales = upload(p.scales);
  q.tensor_scale = upload(p.tensor_scale);
  return ctx.download<uint8_t>(ctx.dequantize(q, DType::F32));
}

}  // namespace

std::vector<ConvertedTensor> dequantize_file(Context& ctx, const std::filesystem::path& input,
                                             const std::filesystem::path& output, Format format) {
  DequantizeFileOptions o;
  o.format = format;
  return dequantize_file(ctx, input, output, o);
}

std::vector<ConvertedTensor> dequantize_file(Context& ctx, const std::filesystem::path& input,
                                             const std::filesystem::path& output, const DequantizeFileOptions& o) {
  const Format format = o.format;
  const FormatInfo& fi = format_info(format);
  check_convert_paths(input, output, false);  // before anything is read
  bool npy_out = file_kind(output, "output") == FileKind::Npy;
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
  std::vector<QuantizedParts> all;
  std::set<std::string> parts;  // every tensor of the file that belongs to a quantized tensor
  for (const QuantizedMeta& m : qs) {
    all.push_back(find_parts(f, m, format, packed));
    for (const TensorEntry* t : {all.back().codes, all.back().scales, all.back().tensor_scale})
      if (t) parts.insert(t->name);
  }
  std::vector<ConvertedTensor> done;
  for (const QuantizedParts& p : all) done.push_back({p.meta.name, p.meta.shape, true});

  if (npy_out) {
    size_t others = f.tensors().size() - parts.size();
    if (others) log().warn("{} other tensor(s) of {} are not written to the .npy output", others, input.string());
    std::vector<uint8_t> y = dequantized(ctx, f, all[0], format, packed);
    write_npy(output, DType::F32, qs[0].shape, Bytes(y.data(), y.size()));
    if (o.progress) o.progress({1, 1, y.size(), y.size(), qs[0].name});
    return done;
  }
  SafetensorsWriter w;
  for (const QuantizedParts& p : all)
    w.add_lazy(p.meta.name, DType::F32, p.meta.shape, [&ctx, &f, &p, format, packed](const SafetensorsWriter::Sink& sink) {
      sink(dequantized(ctx, f, p, format, packed));
    });
  for (const auto& t : f.tensors()) {
    if (parts.count(t.name)) continue;
    w.add_lazy(t.name, t.dtype, t.shape, copy_then_release(f.mapping(), f.bytes(t)));
    done.push_back({t.name, t.shape, false});
  }
  for (const auto& [k, v] : md)
    if (k.rfind("lowbit.", 0) != 0) w.set_metadata(k, v);
  w.write(output, o.progress);
  return done;
}

}  // namespace lowbit::io
