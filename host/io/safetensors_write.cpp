// safetensors_write.cpp — streaming .safetensors writer (header first, then each tensor produced and
// written in turn, laid out aligned by dtype; atomic rename) and the safetensors dtype names.
#include <algorithm>
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
    case DType::I64: return "I64";
  }
  return "?";
}

DType parse_safetensors_dtype(const std::string& s) {
  for (DType d : {DType::F32, DType::F16, DType::BF16, DType::F64, DType::U8, DType::I8, DType::I32, DType::U32, DType::I64})
    if (s == safetensors_dtype(d)) return d;
  throw Error(ErrorCode::Io, "unsupported dtype '" + s + "' (supported: F32, F16, BF16, F64, U8, I8, I32, U32, I64)");
}

static uint64_t bytes_of(DType dtype, const Shape& shape, const std::string& name) {
  uint64_t n = 1;
  for (int64_t v : shape) {
    if (v < 0 || __builtin_mul_overflow(n, uint64_t(v), &n))
      throw Error(ErrorCode::InvalidArgument, "tensor '" + name + "': bad shape " + shape_str(shape));
  }
  return n * dtype_size(dtype);
}

void SafetensorsWriter::add_lazy(const std::string& name, DType dtype, const Shape& shape, Producer produce) {
  if (name.empty() || name == "__metadata__")
    throw Error(ErrorCode::InvalidArgument, "invalid tensor name '" + name + "'");
  if (entries_.count(name)) throw Error(ErrorCode::InvalidArgument, "duplicate tensor name '" + name + "'");
  entries_[name] = Entry{dtype, shape, bytes_of(dtype, shape, name), std::move(produce)};
  added_.push_back(name);
}

void SafetensorsWriter::add(const std::string& name, DType dtype, const Shape& shape, Bytes data) {
  uint64_t need = bytes_of(dtype, shape, name);
  if (need != data.size())
    throw Error(ErrorCode::InvalidArgument, "tensor '" + name + "': shape " + shape_str(shape) + " of " +
                                                to_string(dtype) + " needs " + std::to_string(need) + " bytes, got " +
                                                std::to_string(data.size()));
  add_lazy(name, dtype, shape, [data](const Sink& sink) { sink(data); });
}

void SafetensorsWriter::add_owned(const std::string& name, DType dtype, const Shape& shape, std::vector<uint8_t> data) {
  auto owned = std::make_shared<std::vector<uint8_t>>(std::move(data));
  add(name, dtype, shape, Bytes(owned->data(), owned->size()));
  entries_[name].produce = [owned](const Sink& sink) { sink(Bytes(owned->data(), owned->size())); };
}

// Data offsets of every tensor: by dtype size, largest first, then by name (the safetensors reference
// writer's order), so that each tensor starts at a multiple of its dtype size and nothing lies between.
static std::map<std::string, uint64_t> layout(const auto& entries, uint64_t& total) {
  std::vector<const std::string*> order;
  for (const auto& [name, e] : entries) order.push_back(&name);  // already sorted by name
  std::stable_sort(order.begin(), order.end(), [&](const std::string* a, const std::string* b) {
    return dtype_size(entries.at(*a).dtype) > dtype_size(entries.at(*b).dtype);
  });
  std::map<std::string, uint64_t> offsets;
  total = 0;
  for (const std::string* name : order) {
    offsets[*name] = total;
    total += entries.at(*name).size;
  }
  return offsets;
}

void SafetensorsWriter::write(const std::filesystem::path& path, const ProgressFn& progress) const {
  uint64_t total = 0;
  std::map<std::string, uint64_t> offsets = layout(entries_, total);
  std::vector<std::pair<uint64_t, const std::string*>> by_offset;
  for (const auto& [name, off] : offsets) by_offset.push_back({off, &name});
  std::stable_sort(by_offset.begin(), by_offset.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    auto m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) m[k] = v;
    h["__metadata__"] = m;
  }
  for (const auto& [off, name] : by_offset) {  // header in file order
    const Entry& e = entries_.at(*name);
    h[*name] = {{"dtype", safetensors_dtype(e.dtype)}, {"shape", e.shape}, {"data_offsets", {off, off + e.size}}};
  }
  std::string text = h.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data section starts 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t((uint64_t(text.size()) >> (8 * i)) & 0xFF);
  AtomicFile out(path);
  out.write(len, 8);
  out.write(text.data(), text.size());
  const uint64_t data_start = 8 + text.size();
  ProgressEvent ev;
  ev.total = added_.size();
  ev.bytes_total = total;
  for (const std::string& name : added_) {  // produced in the order added, each written at its offset
    const Entry& e = entries_.at(name);
    uint64_t at = data_start + offsets.at(name), written = 0;
    auto wrong_size = [&](uint64_t got) {
      return Error(ErrorCode::Internal, "tensor '" + name + "': its producer wrote " + std::to_string(got) +
                                            " bytes, the header declares " + std::to_string(e.size));
    };
    e.produce([&](Bytes b) {
      if (written + b.size() > e.size) throw wrong_size(written + b.size());
      out.write_at(at + written, b.data(), b.size());
      written += b.size();
    });
    if (written != e.size) throw wrong_size(written);
    ev.done += 1;
    ev.bytes_done += e.size;
    ev.item = name;
    if (progress) progress(ev);
  }
  out.commit();
}

}  // namespace lowbit::io
