// safetensors_write.cpp — .safetensors writer (one pass, sorted by name, atomic rename) and the
// safetensors dtype names.
#include <nlohmann/json.hpp>

#include "host/io/atomic_file.hpp"
#include "lowbit/io.hpp"

namespace lowbit::io {

const char* safetensors_dtype(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::U8: return "U8";
    case DType::I8: return "I8";
    case DType::I32: return "I32";
    case DType::U32: return "U32";
  }
  return "?";
}

DType parse_safetensors_dtype(const std::string& s) {
  for (DType d : {DType::F32, DType::F16, DType::BF16, DType::F64, DType::U8, DType::I8, DType::I32, DType::U32})
    if (s == safetensors_dtype(d)) return d;
  throw Error(ErrorCode::Io, "unsupported dtype '" + s + "' (supported: F32, F16, BF16, F64, U8, I8, I32, U32)");
}

static uint64_t bytes_of(DType dtype, const Shape& shape, const std::string& name) {
  uint64_t n = 1;
  for (int64_t v : shape) {
    if (v < 0 || __builtin_mul_overflow(n, uint64_t(v), &n))
      throw Error(ErrorCode::InvalidArgument, "tensor '" + name + "': bad shape " + shape_str(shape));
  }
  return n * dtype_size(dtype);
}

void SafetensorsWriter::add(const std::string& name, DType dtype, const Shape& shape, Bytes data) {
  if (name.empty() || name == "__metadata__")
    throw Error(ErrorCode::InvalidArgument, "invalid tensor name '" + name + "'");
  if (entries_.count(name)) throw Error(ErrorCode::InvalidArgument, "duplicate tensor name '" + name + "'");
  uint64_t need = bytes_of(dtype, shape, name);
  if (need != data.size())
    throw Error(ErrorCode::InvalidArgument, "tensor '" + name + "': shape " + shape_str(shape) + " of " +
                                                to_string(dtype) + " needs " + std::to_string(need) + " bytes, got " +
                                                std::to_string(data.size()));
  entries_[name] = Entry{dtype, shape, data, nullptr};
}

void SafetensorsWriter::add_owned(const std::string& name, DType dtype, const Shape& shape, std::vector<uint8_t> data) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(data));
  add(name, dtype, shape, Bytes(owned->data(), owned->size()));
  entries_[name].owned = owned;
}

void SafetensorsWriter::write(const std::filesystem::path& path) const {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    auto m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) m[k] = v;
    h["__metadata__"] = m;
  }
  uint64_t off = 0;
  for (const auto& [name, e] : entries_) {  // std::map: sorted by name
    h[name] = {{"dtype", safetensors_dtype(e.dtype)}, {"shape", e.shape}, {"data_offsets", {off, off + e.data.size()}}};
    off += e.data.size();
  }
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section starts 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t((uint64_t(text.size()) >> (8 * i)) & 0xFF);
  AtomicFile out(path);
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (const auto& [name, e] : entries_) out.write(e.data.data(), e.data.size());
  out.commit();
}

}  // namespace lowbit::io
