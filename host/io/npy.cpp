// npy.cpp — NumPy .npy read (v1.0/2.0/3.0, through mmap) and write (v1.0, v2.0 for huge headers).
// The header is a Python dict literal; a tiny parser accepts exactly what numpy writes:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
#include <cstring>
#include <limits>

#include "host/io/atomic_file.hpp"
#include "host/io/shape_limits.hpp"
#include "lowbit/io.hpp"

namespace lowbit::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  bool has_descr = false, has_order = false, has_shape = false;
  Shape shape;
};

// Recursive-descent parser over the dict literal; throws Io messages prefixed with the file name.
class HeaderParser {
 public:
  HeaderParser(std::string_view s, std::string where) : s_(s), where_(std::move(where)) {}

  NpyHeader parse() {
    NpyHeader h;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      std::string key = string_lit();
      expect(':');
      skip_ws();
      if ((key == "descr" && h.has_descr) || (key == "fortran_order" && h.has_order) || (key == "shape" && h.has_shape))
        fail("duplicate header key '" + key + "'");
      if (key == "descr") {
        h.descr = string_lit();
        h.has_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = bool_lit();
        h.has_order = true;
      } else if (key == "shape") {
        h.shape = tuple_lit();
        h.has_shape = true;
      } else {
        fail("unexpected header key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}' in header");
    }
    ++i_;
    // numpy pads the dict with spaces and ends it with '\n'; anything else after it is not numpy's
    while (i_ < s_.size() && (s_[i_] == '\0' || s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    if (i_ != s_.size()) fail("unexpected text after the header dict");
    if (!h.has_descr || !h.has_order || !h.has_shape) fail("header lacks 'descr', 'fortran_order' or 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& m) const { throw Error(ErrorCode::Io, where_ + ": malformed npy header: " + m); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string_lit() {
    skip_ws();
    char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string r(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return r;
  }
  bool bool_lit() {
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    fail("fortran_order must be True or False");
  }
  Shape tuple_lit() {
    expect('(');
    Shape shape;
    while (true) {
      skip_ws();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("shape must be a tuple of non-negative integers");
      uint64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        uint64_t digit = uint64_t(peek() - '0');
        if (v > (detail::kMaxElements - digit) / 10) fail("dimension too large");  // checked before it can wrap
        v = v * 10 + digit;
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 longs
      shape.push_back(int64_t(v));
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in shape");
    }
    ++i_;
    return shape;
  }

  std::string_view s_;
  std::string where_;
  size_t i_ = 0;
};

DType dtype_from_descr(const std::string& d, const std::string& where) {
  if (d.size() == 3 && (d[0] == '>') && d[2] != '1')
    throw Error(ErrorCode::Io, where + ": big-endian dtype '" + d + "' is not supported (little-endian only)");
  auto is = [&](const char* a, const char* b) { return d == a || d == b; };
  if (is("<f4", "=f4")) return DType::F32;
  if (is("<f2", "=f2")) return DType::F16;
  if (is("<f8", "=f8")) return DType::F64;
  if (is("|u1", "<u1") || d == "=u1" || d == ">u1") return DType::U8;
  if (is("|i1", "<i1") || d == "=i1" || d == ">i1") return DType::I8;
  if (is("<i4", "=i4")) return DType::I32;
  if (is("<u4", "=u4")) return DType::U32;
  if (is("<i8", "=i8")) return DType::I64;
  throw Error(ErrorCode::Io, where + ": unsupported npy dtype '" + d +
                                 "' (supported: <f4, <f2, <f8, |u1, |i1, <i4, <u4, <i8)");
}

uint64_t checked_numel(const Shape& shape, const std::string& where) {
  for (int64_t v : shape)
    if (v < 0) throw Error(ErrorCode::Io, where + ": negative dimension in shape " + shape_str(shape));
  std::optional<uint64_t> n = detail::bounded_numel(shape);
  if (!n) throw Error(ErrorCode::Io, where + ": shape " + shape_str(shape) + " overflows");
  return *n;
}

uint32_t read_le(const uint8_t* p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::string npy_descr(DType d) {
  switch (d) {
    case DType::F32: return "<f4";
    case DType::F16: return "<f2";
    case DType::F64: return "<f8";
    case DType::U8: return "|u1";
    case DType::I8: return "|i1";
    case DType::I32: return "<i4";
    case DType::U32: return "<u4";
    case DType::I64: return "<i8";
    case DType::BF16: break;
  }
  throw Error(ErrorCode::InvalidArgument, "npy has no bfloat16 dtype: write bfloat16 tensors to .safetensors");
}

NpyFile NpyFile::open(const std::filesystem::path& path) {
  NpyFile f;
  f.map_ = MappedFile::open(path);
  const std::string where = path.string();
  Bytes b = f.map_->bytes();
  if (b.size() < 10 || std::memcmp(b.data(), kMagic, 6) != 0)
    throw Error(ErrorCode::Io, where + ": not a .npy file (bad magic)");
  uint8_t major = b[6], minor = b[7];
  if (major < 1 || major > 3 || minor != 0)
    throw Error(ErrorCode::Io, where + ": unsupported npy version " + std::to_string(major) + "." + std::to_string(minor));
  size_t prefix = major == 1 ? 10 : 12;
  if (b.size() < prefix) throw Error(ErrorCode::Io, where + ": truncated npy header");
  uint64_t hlen = major == 1 ? read_le(b.data() + 8, 2) : read_le(b.data() + 8, 4);
  if (hlen > b.size() - prefix)
    throw Error(ErrorCode::Io, where + ": npy header length " + std::to_string(hlen) + " runs past the end of the file");
  std::string_view text(reinterpret_cast<const char*>(b.data() + prefix), hlen);
  NpyHeader h = HeaderParser(text, where).parse();
  if (h.fortran_order)
    throw Error(ErrorCode::Io, where + ": fortran_order arrays are not supported (save a C-order array)");
  f.dtype_ = dtype_from_descr(h.descr, where);
  f.shape_ = h.shape;
  uint64_t need = checked_numel(h.shape, where);
  if (__builtin_mul_overflow(need, uint64_t(dtype_size(f.dtype_)), &need))
    throw Error(ErrorCode::Io, where + ": shape " + shape_str(h.shape) + " overflows");
  uint64_t have = b.size() - prefix - hlen;
  if (have != need)
    throw Error(ErrorCode::Io, where + ": " + (have < need ? "truncated: " : "size mismatch: ") + "shape " +
                                   shape_str(h.shape) + " of " + h.descr + " needs " + std::to_string(need) +
                                   " data bytes, the file has " + std::to_string(have));
  f.data_ = b.subspan(prefix + hlen, need);
  return f;
}

void write_npy(const std::filesystem::path& path, DType dtype, const Shape& shape, Bytes data) {
  uint64_t need = 0;
  bool overflow = __builtin_mul_overflow(checked_numel(shape, path.string()), uint64_t(dtype_size(dtype)), &need);
  std::string descr = npy_descr(dtype);
  if (overflow) throw Error(ErrorCode::InvalidArgument, "write_npy: shape " + shape_str(shape) + " overflows");
  if (need != data.size())
    throw Error(ErrorCode::InvalidArgument, "write_npy: shape " + shape_str(shape) + " needs " +
                                                std::to_string(need) + " bytes, got " + std::to_string(data.size()));
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Pad with spaces so that the data starts on a 64-byte boundary; the header ends with '\n'.
  bool v2 = dict.size() + 11 + 64 > 65535;
  size_t prefix = v2 ? 12 : 10;
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string head(kMagic, 6);
  head += char(v2 ? 2 : 1);
  head += char(0);
  uint32_t hl = uint32_t(dict.size());
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i) head += char((hl >> (8 * i)) & 0xFF);
  head += dict;
  AtomicFile out(path);
  out.write(head.data(), head.size());
  out.write(data.data(), data.size());
  out.commit();
}

}  // namespace lowbit::io
