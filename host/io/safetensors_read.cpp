// safetensors_read.cpp — .safetensors reader: 8-byte little-endian header length, JSON header, data.
// Trusts nothing in the file: every length, offset, shape and dtype is checked against the file and
// against each other before a byte of tensor data is handed out (as a span into the mmap); duplicate
// JSON keys, and a data section that is not exactly the tensors' bytes back to back, are rejected.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "host/io/shape_limits.hpp"
#include "host/io/strict_json.hpp"
#include "lowbit/io.hpp"

namespace lowbit::io {

namespace {

constexpr uint64_t kMaxHeader = 100ull << 20;  // 100 MB: larger is not a real header

using json = nlohmann::json;

struct Ctx {
  std::string file;
  [[noreturn]] void fail(const std::string& m) const { throw Error(ErrorCode::Io, file + ": " + m); }
  [[noreturn]] void fail(const std::string& tensor, const std::string& m) const {
    throw Error(ErrorCode::Io, file + ": tensor '" + tensor + "': " + m);
  }
};

Shape parse_shape(const Ctx& c, const std::string& name, const json& j, uint64_t& numel_out) {
  if (!j.is_array()) c.fail(name, "'shape' must be an array of integers");
  Shape s;
  for (const auto& d : j) {
    if (d.is_number_integer() && !d.is_number_unsigned() && d.get<int64_t>() < 0)
      c.fail(name, "negative dimension " + std::to_string(d.get<int64_t>()) + " in shape");
    if (!d.is_number_unsigned()) c.fail(name, "'shape' must be an array of non-negative integers");
    uint64_t v = d.get<uint64_t>();
    if (v > detail::kMaxElements) c.fail(name, "shape " + j.dump() + " overflows (dimension too large)");
    s.push_back(int64_t(v));
  }
  std::optional<uint64_t> n = detail::bounded_numel(s);
  if (!n) c.fail(name, "shape " + j.dump() + " overflows (element count too large)");
  numel_out = *n;
  return s;
}

TensorEntry parse_entry(const Ctx& c, const std::string& name, const json& j, uint64_t data_size) {
  if (!j.is_object()) c.fail(name, "header entry is not an object");
  if (!j.contains("dtype") || !j["dtype"].is_string()) c.fail(name, "missing or non-string 'dtype'");
  if (!j.contains("shape")) c.fail(name, "missing 'shape'");
  if (!j.contains("data_offsets")) c.fail(name, "missing 'data_offsets'");
  TensorEntry t;
  t.name = name;
  std::string dt = j["dtype"].get<std::string>();
  try {
    t.dtype = parse_safetensors_dtype(dt);
  } catch (const Error& e) {
    c.fail(name, e.what());
  }
  uint64_t n = 0;
  t.shape = parse_shape(c, name, j["shape"], n);
  const json& off = j["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    c.fail(name, "'data_offsets' must be two non-negative integers [begin, end]");
  t.begin = off[0].get<uint64_t>();
  t.end = off[1].get<uint64_t>();
  if (t.begin > t.end)
    c.fail(name, "data_offsets begin " + std::to_string(t.begin) + " > end " + std::to_string(t.end));
  if (t.end > data_size)
    c.fail(name, "data_offsets end " + std::to_string(t.end) + " is past the end of the data (" +
                     std::to_string(data_size) + " bytes)");
  uint64_t need = 0;
  if (__builtin_mul_overflow(n, uint64_t(dtype_size(t.dtype)), &need))
    c.fail(name, "shape " + shape_str(t.shape) + " overflows");
  if (t.end - t.begin != need)
    c.fail(name, "byte length " + std::to_string(t.end - t.begin) + " does not match shape " + shape_str(t.shape) +
                     " of " + dt + " (" + std::to_string(need) + " bytes)");
  return t;
}

std::map<std::string, std::string> parse_metadata(const Ctx& c, const json& j) {
  if (!j.is_object()) c.fail("'__metadata__' must be an object of strings");
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) c.fail("'__metadata__' value of '" + k + "' is not a string");
    m[k] = v.get<std::string>();
  }
  return m;
}

// The data section must be exactly the tensors' bytes, back to back from offset 0: no overlap, no hole,
// nothing after the last tensor (as the safetensors format requires). Empty tensors occupy no bytes and
// may sit anywhere. Sorts `ts` into file order.
void check_layout(const Ctx& c, std::vector<TensorEntry>& ts, uint64_t data_size) {
  std::sort(ts.begin(), ts.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : (a.end != b.end ? a.end < b.end : a.name < b.name);
  });
  const TensorEntry* prev = nullptr;
  uint64_t covered = 0;  // the data section is tensor bytes up to here
  for (const auto& t : ts) {
    if (t.begin == t.end) continue;
    if (prev && t.begin < prev->end)
      c.fail(t.name, "data [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ") overlaps tensor '" +
                         prev->name + "' [" + std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ")");
    if (t.begin != covered)
      c.fail(t.name, "data starts at " + std::to_string(t.begin) + ", but the previous tensor ends at " +
                         std::to_string(covered) + ": the data section has a hole");
    covered = t.end;
    prev = &t;
  }
  if (covered != data_size)
    c.fail("the data section has " + std::to_string(data_size - covered) + " bytes after the last tensor (tensors end at " +
           std::to_string(covered) + " of " + std::to_string(data_size) + ")");
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile f;
  f.map_ = MappedFile::open(path);
  Ctx c{path.string()};
  Bytes b = f.map_->bytes();
  if (b.size() < 8) c.fail("file is too small to be .safetensors (" + std::to_string(b.size()) + " bytes)");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | b[size_t(i)];
  if (hlen > kMaxHeader)
    c.fail("header length " + std::to_string(hlen) + " is absurd (more than 100 MB): not a safetensors file");
  if (hlen > b.size() - 8)
    c.fail("header length " + std::to_string(hlen) + " runs past the end of the file (" + std::to_string(b.size()) +
           " bytes): truncated or corrupt");
  f.data_start_ = 8 + hlen;
  uint64_t data_size = b.size() - f.data_start_;
  json header = detail::parse_strict_json(
      std::string_view(reinterpret_cast<const char*>(b.data()) + 8, size_t(hlen)), c.file + ": header");
  if (!header.is_object()) c.fail("header is not a JSON object");
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      f.metadata_ = parse_metadata(c, entry);
      continue;
    }
    f.tensors_.push_back(parse_entry(c, name, entry, data_size));
  }
  check_layout(c, f.tensors_, data_size);
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_[f.tensors_[i].name] = i;
  return f;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorEntry& SafetensorsFile::at(const std::string& name) const {
  if (const TensorEntry* t = find(name)) return *t;
  throw Error(ErrorCode::NotFound, path().string() + ": no tensor named '" + name + "'");
}

Bytes SafetensorsFile::bytes(const TensorEntry& t) const {
  return map_->bytes().subspan(data_start_ + t.begin, t.end - t.begin);
}

}  // namespace lowbit::io
