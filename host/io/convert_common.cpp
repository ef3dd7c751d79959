// convert_common.cpp — see convert_common.hpp.
#include "host/io/convert_common.hpp"

#include <unistd.h>

#include <algorithm>
#include <vector>

#include "host/io/float_values.hpp"
#include "host/log.hpp"

namespace lowbit::io::detail {

FileKind file_kind(const std::filesystem::path& p, const char* role) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (ext == ".npy") return FileKind::Npy;
  if (ext == ".safetensors") return FileKind::Safetensors;
  throw Error(ErrorCode::InvalidArgument, std::string(role) + " '" + p.string() +
                                              "' is neither .npy nor .safetensors");
}

SourceFile open_source(const std::filesystem::path& p) {
  SourceFile s;
  if (file_kind(p, "input") == FileKind::Npy) {
    auto npy = std::make_shared<NpyFile>(NpyFile::open(p));
    s.tensors.push_back({"x", npy->dtype(), npy->shape(), npy->bytes()});
    s.mapping = npy->mapping();
    if (npy->dtype() == DType::F64) {  // numpy's default dtype: read as float32 (RNE), with a note
      auto f32 = std::make_shared<std::vector<float>>(float_values(DType::F64, npy->bytes()));
      s.tensors.back() = {"x", DType::F32, npy->shape(), {reinterpret_cast<const uint8_t*>(f32->data()), f32->size() * 4}};
      s.keep = f32;
      log().info("{}: float64 converted to float32", p.string());
    }
  } else {
    auto st = std::make_shared<SafetensorsFile>(SafetensorsFile::open(p));
    for (const auto& t : st->tensors()) s.tensors.push_back({t.name, t.dtype, t.shape, st->bytes(t)});
    s.metadata = st->metadata();
    s.mapping = st->mapping();
  }
  return s;
}

std::string codes_name(const std::string& x, Format f) { return format_info(f).block ? x + ".codes" : x; }
std::string scales_name(const std::string& x) { return x + ".scales"; }
std::string tensor_scale_name(const std::string& x) { return x + ".tensor_scale"; }

static uint64_t last_dim(const Shape& s) { return s.empty() ? 1 : uint64_t(s.back()); }
static Shape with_last(const Shape& s, uint64_t last) {
  Shape r = s.empty() ? Shape{1} : s;
  r.back() = int64_t(last);
  return r;
}

Shape codes_shape(Format f, const Shape& shape, bool packed) {
  return packed ? with_last(shape, packed_row_bytes(f, last_dim(shape))) : shape;
}
Shape scales_shape(Format f, const Shape& shape) { return with_last(shape, scales_per_row(f, last_dim(shape))); }

}  // namespace lowbit::io::detail

namespace lowbit::io {

void check_convert_paths(const std::filesystem::path& input, const std::filesystem::path& output, bool quantize) {
  using namespace detail;
  FileKind in = file_kind(input, "input");
  FileKind out = file_kind(output, "output");
  if (quantize && out != FileKind::Safetensors)
    throw Error(ErrorCode::InvalidArgument, "output '" + output.string() + "' must be a .safetensors file");
  if (!quantize && in != FileKind::Safetensors)
    throw Error(ErrorCode::InvalidArgument, "convert --from reads a .safetensors file, got '" + input.string() + "'");
  check_output_path(output, {input});
  std::error_code ec;
  if (!std::filesystem::is_regular_file(input, ec) || ::access(input.c_str(), R_OK) != 0)
    throw Error(ErrorCode::Io, "cannot read '" + input.string() + "': no such file or not readable");
}

}  // namespace lowbit::io
