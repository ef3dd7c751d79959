// names.cpp — printable names of enums, and shape helpers.
#include <algorithm>

#include "lowbit/lowbit.hpp"

namespace lowbit {

const char* to_string(ErrorCode c) {
  switch (c) {
    case ErrorCode::InvalidArgument: return "invalid argument";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::NotFound: return "not found";
    case ErrorCode::OutOfMemory: return "out of memory";
    case ErrorCode::DeviceLost: return "device lost";
    case ErrorCode::Io: return "i/o error";
    case ErrorCode::Backend: return "backend error";
    case ErrorCode::Internal: return "internal error";
  }
  return "?";
}

const char* to_string(Backend b) {
  switch (b) {
    case Backend::Auto: return "auto";
    case Backend::Vulkan: return "vulkan";
    case Backend::OpenCL: return "opencl";
    case Backend::CPU: return "cpu";
  }
  return "?";
}

Backend parse_backend(const std::string& s) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "auto") return Backend::Auto;
  if (l == "vulkan" || l == "vk") return Backend::Vulkan;
  if (l == "opencl" || l == "cl") return Backend::OpenCL;
  if (l == "cpu") return Backend::CPU;
  throw Error(ErrorCode::InvalidArgument, "unknown backend '" + s + "' (expected auto, vulkan, opencl or cpu)");
}

const char* to_string(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::U8: return "uint8";
    case DType::I8: return "int8";
    case DType::I32: return "int32";
    case DType::U32: return "uint32";
    case DType::F64: return "float64";
    case DType::I64: return "int64";
  }
  return "?";
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: case DType::I32: case DType::U32: return 4;
    case DType::F16: case DType::BF16: return 2;
    case DType::U8: case DType::I8: return 1;
    case DType::F64: case DType::I64: return 8;
  }
  return 1;
}

bool is_float(DType d) { return d == DType::F32 || d == DType::F16 || d == DType::BF16 || d == DType::F64; }

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (auto v : s) n *= v;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace lowbit
