// convert_common.hpp — pieces shared by quantize_file and dequantize_file: file-kind detection from
// the extension, a uniform view of input tensors, and the shapes a QTensor's parts have on disk.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lowbit/io.hpp"

namespace lowbit::io::detail {

enum class FileKind { Npy, Safetensors };
// ".npy" / ".safetensors" (case-insensitive); anything else throws Error(InvalidArgument) naming `role`.
FileKind file_kind(const std::filesystem::path& p, const char* role);

struct SourceTensor {
  std::string name;
  DType dtype;
  Shape shape;
  Bytes data;
};

// The tensors of an input file (an .npy is one tensor named "x"), views into `mapping`.
struct SourceFile {
  std::vector<SourceTensor> tensors;
  std::map<std::string, std::string> metadata;
  std::shared_ptr<MappedFile> mapping;
  std::shared_ptr<void> keep;  // data converted on reading (a float64 .npy read as float32)
};
SourceFile open_source(const std::filesystem::path& p);

// On-disk names of a quantized tensor's parts.
std::string codes_name(const std::string& x, Format f);  // x for FP8, x.codes otherwise
std::string scales_name(const std::string& x);           // x.scales
std::string tensor_scale_name(const std::string& x);     // x.tensor_scale

// Shapes Context::alloc_qtensor gives the parts of a tensor of `shape` (0-d counts as one row of 1).
Shape codes_shape(Format f, const Shape& shape, bool packed);
Shape scales_shape(Format f, const Shape& shape);

}  // namespace lowbit::io::detail
