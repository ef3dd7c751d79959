// convert.comp — quantize (fp32/fp16/bf16 -> FP8 / MX / NVFP4 codes) and dequantize (codes -> floats).
//
// Build-time entry kinds (they declare different buffers): QUANTIZE or DEQUANTIZE.
// Everything else is a specialization constant (see the constant_id list below). All number-format
// math comes from lowbit_formats.h, the same header the CPU reference runs, so results match it bit for
// bit. The host (backend/vulkan/vk_convert.cpp) dispatches row chunks; each invocation owns BLOCKS
// consecutive blocks (MX / NVFP4; a block is one row segment) or GROUP consecutive elements (plain FP8)
// and writes only its own bytes. WG, GROUP and BLOCKS come from backend/convert_plan.hpp (tunable).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require

#include "lowbit_formats.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const int ELEM = LB_FMT_E4M3;  // element format id (LB_FMT_*)
layout(constant_id = 2) const uint BLOCK = 0;          // elements per scale: 0 (plain), 16 or 32
layout(constant_id = 3) const uint SCALE_KIND = 0;     // 0 none, 1 E8M0 (MX), 2 E4M3 + tensor scale (NVFP4)
layout(constant_id = 4) const int IO_ELEM = LB_FMT_F32;  // quantize: source element; dequantize: output
layout(constant_id = 5) const bool SATURATE = true;    // plain FP8 only
layout(constant_id = 6) const bool PACKED_CODES = false;
layout(constant_id = 7) const uint MODE = 0;           // quantize: 0 encode, 1 amax pass, 2 tensor scale
layout(constant_id = 8) const uint GROUP = 16;         // elements per invocation without block scales
layout(constant_id = 9) const uint BLOCKS = 1;         // blocks per invocation with block scales

const uint MODE_ENCODE = 0u;
const uint MODE_AMAX = 1u;
const uint MODE_TENSOR_SCALE = 2u;
const uint SCALE_E8M0 = 1u;
const uint MAX_BLOCK = 32u;

// Chunk description; offsets are relative to the start of each (aligned) binding.
layout(push_constant) uniform Params {
  uint rows;         // rows in this chunk
  uint cols;         // elements per row
  uint nblk;         // scales per row
  uint row_bytes;    // code bytes per row
  uint elem_base;    // index of the chunk's first element in the float binding
  uint codes_base;   // byte offset of the chunk's first code row in the codes binding
  uint scales_base;  // byte offset of the chunk's first scale in the scales binding
  uint items;        // invocations with work (ConvertPlan::items)
} pc;

// Bindings: 0 the float tensor (source or output), 1 codes, 2 block scales,
// 3 the NVFP4 tensor scale (fp32 bits); the quantize amax pass accumulates into it.
#if defined(QUANTIZE)
layout(set = 0, binding = 0, std430) readonly buffer Src32 { uint src32[]; };
layout(set = 0, binding = 0, std430) readonly buffer Src16 { uint16_t src16[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Codes { uint8_t codes[]; };
layout(set = 0, binding = 2, std430) writeonly buffer Scales { uint8_t scales[]; };
#elif defined(DEQUANTIZE)
layout(set = 0, binding = 0, std430) writeonly buffer Out32 { uint dst32[]; };
layout(set = 0, binding = 0, std430) writeonly buffer Out16 { uint16_t dst16[]; };
layout(set = 0, binding = 1, std430) readonly buffer Codes { uint8_t codes[]; };
layout(set = 0, binding = 2, std430) readonly buffer Scales { uint8_t scales[]; };
#else
#error "define QUANTIZE or DEQUANTIZE"
#endif
layout(set = 0, binding = 3, std430) buffer TensorScale { uint tscale[]; };

uint item_index() {
  return gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
}

uint code_bits() { return uint(lb_fmt_bits(ELEM)); }
bool packed_sub_byte() { return PACKED_CODES && code_bits() != 8u; }

#if defined(QUANTIZE)
uint load_src(uint i) {
  if (IO_ELEM == LB_FMT_F32) return src32[i];
  return lb_to_f32(uint(src16[i]), IO_ELEM);
}

uint encode_in_block(uint xb, uint sc, uint ts) {
  if (SCALE_KIND == SCALE_E8M0) return lb_mx_encode(xb, sc, ELEM);
  return lb_nvfp4_encode(xb, sc, ts);
}

// Writes the codes of one block (n <= BLOCK codes starting at column j0 of `row`) in the requested
// layout. A packed tail block also writes the zero padding up to the end of the row's bytes.
void store_block_codes(uint row, uint j0, uint n, uint cs[MAX_BLOCK]) {
  uint rowb = pc.codes_base + row * pc.row_bytes;
  if (!packed_sub_byte()) {
    for (uint j = 0u; j < n; ++j) codes[rowb + j0 + j] = uint8_t(cs[j]);
  } else if (code_bits() == 4u) {
    uint b0 = rowb + j0 / 2u;
    for (uint k = 0u; 2u * k < n; ++k) {
      uint hi = 2u * k + 1u < n ? (cs[2u * k + 1u] & 0xFu) : 0u;
      codes[b0 + k] = uint8_t((cs[2u * k] & 0xFu) | (hi << 4));
    }
  } else {  // 6 bits: four codes in three bytes, little-endian bit order
    uint b0 = rowb + (j0 / 4u) * 3u;
    for (uint g = 0u; 4u * g < n; ++g) {
      uint v = 0u;
      for (uint t = 0u; t < 4u; ++t) {
        uint j = 4u * g + t;
        if (j < n) v |= (cs[j] & 0x3Fu) << (6u * t);
      }
      codes[b0 + 3u * g] = uint8_t(v & 0xFFu);
      codes[b0 + 3u * g + 1u] = uint8_t((v >> 8) & 0xFFu);
      codes[b0 + 3u * g + 2u] = uint8_t((v >> 16) & 0xFFu);
    }
  }
}

void quantize_block(uint it) {
  uint row = it / pc.nblk, b = it % pc.nblk;
  uint j0 = b * BLOCK;
  uint n = min(BLOCK, pc.cols - j0);
  uint base = pc.elem_base + row * pc.cols + j0;
  uint xs[MAX_BLOCK];  // the block's fp32 bits, then its codes
  uint amax = 0u;
  for (uint j = 0u; j < n; ++j) {
    xs[j] = load_src(base + j);
    amax = max(amax, lb_abs_bits(xs[j]));
  }
  uint ts = SCALE_KIND == SCALE_E8M0 ? 0u : tscale[0];
  uint sc = SCALE_KIND == SCALE_E8M0 ? lb_mx_scale_code(amax, ELEM) : lb_nvfp4_scale_code(amax, ts);
  scales[pc.scales_base + row * pc.nblk + b] = uint8_t(sc);
  for (uint j = 0u; j < n; ++j) xs[j] = encode_in_block(xs[j], sc, ts);
  store_block_codes(row, j0, n, xs);
}

void quantize_plain(uint it) {
  uint total = pc.rows * pc.cols;
  uint i0 = it * GROUP;
  uint i1 = min(total, i0 + GROUP);
  for (uint i = i0; i < i1; ++i)
    codes[pc.codes_base + i] = uint8_t(lb_encode(load_src(pc.elem_base + i), 0, ELEM, SATURATE));
}

shared uint wg_max[gl_WorkGroupSize.x];

// Max finite |x| of the chunk, folded into tscale[0] (which the host zeroed before the first chunk).
void amax_pass(uint it) {
  uint total = pc.rows * pc.cols;
  uint m = 0u;
  if (it < pc.items) {
    uint i1 = min(total, (it + 1u) * GROUP);
    for (uint i = it * GROUP; i < i1; ++i) {
      uint a = lb_abs_bits(load_src(pc.elem_base + i));
      if (lb_is_finite_abs(a)) m = max(m, a);
    }
  }
  uint lid = gl_LocalInvocationID.x;
  wg_max[lid] = m;
  barrier();
  for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1) {
    if (lid < s) wg_max[lid] = max(wg_max[lid], wg_max[lid + s]);
    barrier();
  }
  if (lid == 0u && wg_max[0] != 0u) atomicMax(tscale[0], wg_max[0]);
}

void main() {
  uint it = item_index();
  if (MODE == MODE_AMAX) {
    amax_pass(it);  // every invocation takes part in the workgroup reduction
    return;
  }
  if (it >= pc.items) return;
  if (MODE == MODE_TENSOR_SCALE) {
    tscale[0] = lb_nvfp4_tensor_scale(tscale[0]);
  } else if (BLOCK == 0u) {
    quantize_plain(it);
  } else {
    for (uint j = 0u; j < BLOCKS && it * BLOCKS + j < pc.rows * pc.nblk; ++j) quantize_block(it * BLOCKS + j);
  }
}

#else  // DEQUANTIZE

void store_out(uint i, uint v) {
  if (IO_ELEM == LB_FMT_F32) {
    dst32[i] = v;
  } else {
    dst16[i] = uint16_t(v);
  }
}

uint load_code(uint rowb, uint j) {
  if (!packed_sub_byte()) return uint(codes[rowb + j]);
  if (code_bits() == 4u) return (uint(codes[rowb + j / 2u]) >> (4u * (j & 1u))) & 0xFu;
  uint bit = (j / 4u) * 24u + (j % 4u) * 6u;
  uint v = uint(codes[rowb + bit / 8u]);
  if ((bit % 8u) + 6u > 8u) v |= uint(codes[rowb + bit / 8u + 1u]) << 8;
  return (v >> (bit % 8u)) & 0x3Fu;
}

void dequantize_block(uint it) {
  uint row = it / pc.nblk, b = it % pc.nblk;
  uint j0 = b * BLOCK;
  uint n = min(BLOCK, pc.cols - j0);
  uint rowb = pc.codes_base + row * pc.row_bytes;
  uint sc = uint(scales[pc.scales_base + row * pc.nblk + b]);
  uint ts = SCALE_KIND == SCALE_E8M0 ? 0u : tscale[0];
  uint out_base = pc.elem_base + row * pc.cols + j0;
  for (uint j = 0u; j < n; ++j) {
    uint c = load_code(rowb, j0 + j);
    uint v = SCALE_KIND == SCALE_E8M0 ? lb_mx_decode(c, sc, ELEM, IO_ELEM) : lb_nvfp4_decode(c, sc, ts, IO_ELEM);
    store_out(out_base + j, v);
  }
}

void dequantize_plain(uint it) {
  uint total = pc.rows * pc.cols;
  uint i0 = it * GROUP;
  uint i1 = min(total, i0 + GROUP);
  for (uint i = i0; i < i1; ++i) store_out(pc.elem_base + i, lb_decode(uint(codes[pc.codes_base + i]), 0, ELEM, IO_ELEM));
}

void main() {
  uint it = item_index();
  if (it >= pc.items) return;
  if (BLOCK == 0u) {
    dequantize_plain(it);
  } else {
    for (uint j = 0u; j < BLOCKS && it * BLOCKS + j < pc.rows * pc.nblk; ++j) dequantize_block(it * BLOCKS + j);
  }
}
#endif
