// formats.hpp — element dtypes and quantized formats as the public API names them, with their facts
// (block size, element format id from shaders/common/lowbit_formats.h, code width).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

enum class DType { F32, F16, BF16, U8, I8, I32, U32, F64, I64 };
const char* to_string(DType d);
size_t dtype_size(DType d);
bool is_float(DType d);  // F32, F16, BF16, F64

enum class Format {
  E4M3, E5M2, E4M3FNUZ, E5M2FNUZ,        // plain FP8
  MXFP8_E4M3, MXFP8_E5M2,                // OCP MX, block 32, E8M0 scales
  MXFP6_E3M2, MXFP6_E2M3, MXFP4, MXINT8,
  NVFP4,                                 // E2M1, E4M3 scale per 16, fp32 tensor scale
};

enum class ScaleKind { None, E8M0, E4M3 };

struct FormatInfo {
  Format format;
  const char* name;     // CLI spelling: "e4m3", "mxfp4", ...
  int elem;             // LB_FMT_* element id
  int bits;             // code width: 8, 6 or 4
  int block;            // elements per scale (0 = no block scale)
  ScaleKind scale;
  bool tensor_scale;    // NVFP4
};

const FormatInfo& format_info(Format f);
Format parse_format(const std::string& name);  // throws lowbit::Error(InvalidArgument) naming the set
const std::vector<FormatInfo>& all_formats();

// Bytes one row of n codes takes when packed (FP4 ceil(n/2), FP6 ceil(n/4)*3, 8-bit n).
uint64_t packed_row_bytes(Format f, uint64_t n);
// Number of scale entries per row of n elements (0 for plain FP8).
uint64_t scales_per_row(Format f, uint64_t n);

}  // namespace lowbit
