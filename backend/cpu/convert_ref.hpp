// convert_ref.hpp — reference quantize/dequantize on host memory, row by row, built on
// shaders/common/lowbit_formats.h. The CPU backend runs it; tests and tools call it directly.
#pragma once

#include <cstdint>

#include "backend/device.hpp"

namespace lowbit::detail {

struct HostQuantize {
  const FormatInfo* fmt;
  int src_elem;          // LB_FMT_F32/F16/BF16
  const void* src;       // rows*cols elements
  uint8_t* codes;        // rows * row_code_bytes
  uint8_t* scales;       // rows * scales_per_row (MX, NVFP4)
  uint64_t rows, cols;
  bool saturate, packed;
  uint32_t tensor_scale_bits;  // NVFP4 (resolved by the caller: nvfp4_tensor_scale_of or given)
};
struct HostDequantize {
  const FormatInfo* fmt;
  int out_elem;
  const uint8_t* codes;
  const uint8_t* scales;
  uint32_t tensor_scale_bits;
  void* dst;
  uint64_t rows, cols;
  bool packed;
};

// Quantizes / dequantizes rows [r0, r1).
void quantize_rows(const HostQuantize& a, uint64_t r0, uint64_t r1);
void dequantize_rows(const HostDequantize& a, uint64_t r0, uint64_t r1);
// NVFP4 tensor scale of n source elements: amax over finite |x|, then amax / (448*6).
uint32_t nvfp4_tensor_scale_of(const void* src, int src_elem, uint64_t n);
// Bytes of one row of codes in the given layout.
uint64_t row_code_bytes(const FormatInfo& f, uint64_t cols, bool packed);

}  // namespace lowbit::detail
