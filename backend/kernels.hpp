// kernels.hpp — lookup of the kernels embedded at build time (SPIR-V blobs, OpenCL C text, the
// shared format header), by file name: "convert_quantize.spv", "convert.cl", "lowbit_formats.h".
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace lowbit::detail {

struct EmbeddedFile {
  const char* name;
  const unsigned char* data;
  size_t size;
};
extern const EmbeddedFile kEmbeddedFiles[];  // terminated by a null name

// Whether the build embedded this file (variants that need optional tools may be left out).
bool has_embedded_file(std::string_view name);
// Throws lowbit::Error(Internal) when the name is unknown.
std::span<const unsigned char> embedded_file(std::string_view name);
std::string embedded_text(std::string_view name);

}  // namespace lowbit::detail
