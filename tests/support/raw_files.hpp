// raw_files.hpp — test helpers that write files byte for byte, malformed ones included: raw bytes, a
// .safetensors from a header text and a data section, a .safetensors whose tensors sit at exactly the
// offsets a test chooses (odd ones included), and a check that a call fails with a given lowbit::Error.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit::test {

inline void write_raw(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

// The bytes of a .safetensors file: header length (as given, or the true one), header text, data.
inline std::string safetensors_bytes(const std::string& header, const std::string& data, int64_t hlen = -1) {
  uint64_t n = hlen < 0 ? header.size() : uint64_t(hlen);
  std::string b(8, '\0');
  for (int i = 0; i < 8; ++i) b[size_t(i)] = char((n >> (8 * i)) & 0xFF);
  return b + header + data;
}

// Lays tensors out in the order they are added, back to back from data offset 0, so that a test can
// put an F16 or I32 tensor at an odd offset (after an odd-sized U8 one). The header is padded to a
// multiple of 8, so an odd offset is an odd address in the mapping.
class RawSafetensors {
 public:
  template <class T>
  void add(const std::string& name, const char* dtype, const Shape& shape, const std::vector<T>& values) {
    std::string bytes(values.size() * sizeof(T), '\0');
    if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    header_[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {data_.size(), data_.size() + bytes.size()}}};
    data_ += bytes;
  }
  void set_metadata(const std::string& key, const std::string& value) { header_["__metadata__"][key] = value; }
  uint64_t offset_of(const std::string& name) const { return header_.at(name)["data_offsets"][0].get<uint64_t>(); }
  void write(const std::filesystem::path& p) const {
    std::string text = header_.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    write_raw(p, safetensors_bytes(text, data_));
  }

 private:
  nlohmann::ordered_json header_ = nlohmann::ordered_json::object();
  std::string data_;
};

// Expects fn() to throw lowbit::Error with `code` and a message that contains every needle.
template <class F>
void expect_error(F&& fn, ErrorCode code, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing '" << *needles.begin() << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << "message: " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "a non-lowbit exception escaped: " << e.what();
  }
}

}  // namespace lowbit::test
