// convert_ref.cpp — the reference conversion loops (see convert_ref.hpp). One row at a time:
// per block, max |x| -> scale code -> element codes; packing per the layout in lowbit_formats.h.
#include "backend/cpu/convert_ref.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "lowbit_formats.h"

namespace lowbit::detail {

using namespace lowbit::fmt;

static uint32_t load_bits(const void* src, int elem, uint64_t i) {
  if (elem == LB_FMT_F32) {
    uint32_t v;
    std::memcpy(&v, static_cast<const uint8_t*>(src) + 4 * i, 4);
    return v;
  }
  uint16_t h;
  std::memcpy(&h, static_cast<const uint8_t*>(src) + 2 * i, 2);
  return lb_to_f32(h, elem);
}

static void store_bits(void* dst, int elem, uint64_t i, uint32_t v) {
  if (elem == LB_FMT_F32) {
    std::memcpy(static_cast<uint8_t*>(dst) + 4 * i, &v, 4);
  } else {
    uint16_t h = uint16_t(v);
    std::memcpy(static_cast<uint8_t*>(dst) + 2 * i, &h, 2);
  }
}

uint64_t row_code_bytes(const FormatInfo& f, uint64_t cols, bool packed) {
  return packed ? lb_packed_row_bytes(uint32_t(cols), f.elem) : cols;
}

// Writes code c (bits wide) at index j of a row, packed or one per byte.
static void put_code(uint8_t* row, uint64_t j, uint32_t c, int bits, bool packed) {
  if (!packed || bits == 8) {
    row[j] = uint8_t(c);
  } else if (bits == 4) {
    row[j / 2] |= uint8_t((c & 0xF) << (4 * (j % 2)));
  } else {  // 6 bits: four codes in three bytes, little-endian bit order
    uint64_t bit = (j / 4) * 24 + (j % 4) * 6;
    uint32_t v = (c & 0x3F) << (bit % 8);
    row[bit / 8] |= uint8_t(v);
    if ((bit % 8) + 6 > 8) row[bit / 8 + 1] |= uint8_t(v >> 8);
  }
}

static uint32_t get_code(const uint8_t* row, uint64_t j, int bits, bool packed) {
  if (!packed || bits == 8) return row[j];
  if (bits == 4) return (row[j / 2] >> (4 * (j % 2))) & 0xF;
  uint64_t bit = (j / 4) * 24 + (j % 4) * 6;
  uint32_t v = row[bit / 8] | (((bit % 8) + 6 > 8) ? uint32_t(row[bit / 8 + 1]) << 8 : 0u);
  return (v >> (bit % 8)) & 0x3F;
}

void quantize_rows(const HostQuantize& a, uint64_t r0, uint64_t r1) {
  const FormatInfo& f = *a.fmt;
  uint64_t rb = row_code_bytes(f, a.cols, a.packed);
  uint64_t nblk = f.block ? (a.cols + f.block - 1) / f.block : 0;
  std::vector<uint32_t> x(a.cols);
  for (uint64_t r = r0; r < r1; ++r) {
    for (uint64_t j = 0; j < a.cols; ++j) x[j] = load_bits(a.src, a.src_elem, r * a.cols + j);
    uint8_t* row = a.codes + r * rb;
    if (a.packed) std::memset(row, 0, rb);
    if (!f.block) {
      for (uint64_t j = 0; j < a.cols; ++j) put_code(row, j, lb_encode(x[j], 0, f.elem, a.saturate), f.bits, a.packed);
      continue;
    }
    for (uint64_t b = 0; b < nblk; ++b) {
      uint64_t j0 = b * f.block, j1 = std::min<uint64_t>(a.cols, j0 + f.block);
      uint32_t amax = 0;
      for (uint64_t j = j0; j < j1; ++j) amax = std::max(amax, lb_abs_bits(x[j]));
      uint32_t sc = f.scale == ScaleKind::E8M0 ? lb_mx_scale_code(amax, f.elem)
                                               : lb_nvfp4_scale_code(amax, a.tensor_scale_bits);
      a.scales[r * nblk + b] = uint8_t(sc);
      for (uint64_t j = j0; j < j1; ++j) {
        uint32_t c = f.scale == ScaleKind::E8M0 ? lb_mx_encode(x[j], sc, f.elem)
                                                : lb_nvfp4_encode(x[j], sc, a.tensor_scale_bits);
        put_code(row, j, c, f.bits, a.packed);
      }
    }
  }
}

void dequantize_rows(const HostDequantize& a, uint64_t r0, uint64_t r1) {
  const FormatInfo& f = *a.fmt;
  uint64_t rb = row_code_bytes(f, a.cols, a.packed);
  uint64_t nblk = f.block ? (a.cols + f.block - 1) / f.block : 0;
  for (uint64_t r = r0; r < r1; ++r) {
    const uint8_t* row = a.codes + r * rb;
    for (uint64_t j = 0; j < a.cols; ++j) {
      uint32_t c = get_code(row, j, f.bits, a.packed);
      uint32_t v;
      if (!f.block) {
        v = lb_decode(c, 0, f.elem, a.out_elem);
      } else {
        uint32_t sc = a.scales[r * nblk + j / f.block];
        v = f.scale == ScaleKind::E8M0 ? lb_mx_decode(c, sc, f.elem, a.out_elem)
                                       : lb_nvfp4_decode(c, sc, a.tensor_scale_bits, a.out_elem);
      }
      store_bits(a.dst, a.out_elem, r * a.cols + j, v);
    }
  }
}

uint32_t nvfp4_tensor_scale_of(const void* src, int src_elem, uint64_t n) {
  uint32_t amax = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint32_t ab = lb_abs_bits(load_bits(src, src_elem, i));
    if (lb_is_finite_abs(ab)) amax = std::max(amax, ab);
  }
  return lb_nvfp4_tensor_scale(amax);
}

}  // namespace lowbit::detail
