// kv_append.comp — quantizes new K and V rows (fp16 [tokens, Hkv, D]) into their paged-cache slots,
// both tensors in one dispatch.
//
// A row is one (tensor, token, kv head): rows [0, rows) are K, [rows, 2 rows) V. R lanes (a power of
// two) share a row, each owning 16-element chunks lane, lane + R, ... (32 bytes of fp16 in; out 16
// bytes for int8 / FP8, 8 for int4, a 32-byte copy for fp16); RPW rows per workgroup (the host sets
// the workgroup size to RPW * R). int8/int4: each lane folds the exact integer min/max keys of its
// elements (lowbit_formats.h, "KV cache rows"), the row's lanes combine them — by subgroup shuffles
// with SUBGROUP_REDUCE (the host uses it only where a row's lanes sit in one full subgroup), else
// with shared atomics between two barriers — so any order gives the bytes of the CPU's sequential
// scan; then every lane derives the row's scale and zero and quantizes its own elements. All
// per-element math (exact codes, RNE, clamping, FP8 encoding) is the shared header's, so the bytes
// equal the CPU reference's.
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#if defined(SUBGROUP_REDUCE)
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

#include "lowbit_formats.h"

layout(local_size_x_id = 0) in;              // RPW * R invocations
layout(constant_id = 1) const uint FMT = 0;  // 0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2
layout(constant_id = 2) const uint D = 128;  // head dim
layout(constant_id = 3) const uint RPW = 1;  // rows per workgroup
layout(constant_id = 4) const uint R = 8;    // lanes per row
const uint NCH = D / 16u;                    // 16-element chunks per row
const uint CPL = (NCH + R - 1u) / R;         // chunks per lane
const uint EPW = FMT == 0u ? 2u : (FMT == 2u ? 8u : 4u);  // elements per cache word
const uint BITS = 32u / EPW;                              // bits per code
const bool INT_FMT = FMT == 1u || FMT == 2u;

layout(push_constant) uniform Params {
  uint rows;      // tokens * Hkv of each tensor
  uint kv_heads;
  uint per_head;  // FP8: scale per kv head (else one per tensor)
} pc;

// Bindings: 0/1 new K/V rows fp16, 2 slots i32 [tokens], 3/4 K/V codes, 5/6 K scale/zero fp16, 7/8 V
// scale/zero fp16 (int formats, written), 9/10 K/V FP8 scale fp32 [1] or [Hkv] (read).
layout(set = 0, binding = 0, std430) readonly buffer SrcK { uvec4 src_k[]; };
layout(set = 0, binding = 1, std430) readonly buffer SrcV { uvec4 src_v[]; };
layout(set = 0, binding = 2, std430) readonly buffer Slots { int slots[]; };
layout(set = 0, binding = 3, std430) writeonly buffer CodesK4 { uvec4 codes_k4[]; };
layout(set = 0, binding = 3, std430) writeonly buffer CodesK2 { uvec2 codes_k2[]; };
layout(set = 0, binding = 4, std430) writeonly buffer CodesV4 { uvec4 codes_v4[]; };
layout(set = 0, binding = 4, std430) writeonly buffer CodesV2 { uvec2 codes_v2[]; };
layout(set = 0, binding = 5, std430) writeonly buffer ScaleK { uint16_t scale_k[]; };
layout(set = 0, binding = 6, std430) writeonly buffer ZeroK { uint16_t zero_k[]; };
layout(set = 0, binding = 7, std430) writeonly buffer ScaleV { uint16_t scale_v[]; };
layout(set = 0, binding = 8, std430) writeonly buffer ZeroV { uint16_t zero_v[]; };
layout(set = 0, binding = 9, std430) readonly buffer Fp8K { float fp8_k[]; };
layout(set = 0, binding = 10, std430) readonly buffer Fp8V { float fp8_v[]; };

#if !defined(SUBGROUP_REDUCE)
shared uint row_min[RPW], row_max[RPW];  // int8/int4: reduced keys of each row
#endif

uint xh[CPL * 16u];  // this lane's fp16 elements (bits)

// Writes 16 codes of chunk ch (already packed into words w) of the cache row.
void store_chunk(bool v, uint cache_row, uint ch, uvec4 w) {
  if (FMT == 2u) {
    uint at = cache_row * NCH + ch;  // 8 bytes per chunk
    if (v) codes_v2[at] = w.xy;
    else codes_k2[at] = w.xy;
  } else {
    uint at = cache_row * NCH + ch;  // 16 bytes per chunk
    if (v) codes_v4[at] = w;
    else codes_k4[at] = w;
  }
}

void main() {
  const uint lr = gl_LocalInvocationID.x / R, lane = gl_LocalInvocationID.x % R;
  const uint rr = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * RPW + lr;
  const bool live = rr < 2u * pc.rows;  // the rest only take part in the reduction
  const bool v = rr >= pc.rows;
  const uint r = live ? (v ? rr - pc.rows : rr) : 0u;
  const uint tok = r / pc.kv_heads, h = r % pc.kv_heads;
  const uint cache_row = live ? uint(slots[tok]) * pc.kv_heads + h : 0u;

  if (FMT == 0u) {  // a copy, 32 bytes per chunk
    if (!live) return;
    for (uint c = 0u; c < CPL; ++c) {
      uint ch = lane + R * c;
      if (ch >= NCH) break;
      uint s = r * (D / 8u) + 2u * ch, d = cache_row * (D / 8u) + 2u * ch;
      uvec4 a = v ? src_v[s] : src_k[s], b = v ? src_v[s + 1u] : src_k[s + 1u];
      if (v) {
        codes_v4[d] = a;
        codes_v4[d + 1u] = b;
      } else {
        codes_k4[d] = a;
        codes_k4[d + 1u] = b;
      }
    }
    return;
  }

  for (uint c = 0u; c < CPL; ++c) {
    uint ch = lane + R * c;
    bool ok = live && ch < NCH;
    uint s = r * (D / 8u) + 2u * ch;
    uvec4 a = uvec4(0u), b = uvec4(0u);
    if (ok) {
      a = v ? src_v[s] : src_k[s];
      b = v ? src_v[s + 1u] : src_k[s + 1u];
    }
    for (uint i = 0u; i < 4u; ++i) {
      xh[c * 16u + 2u * i] = a[i] & 0xFFFFu;
      xh[c * 16u + 2u * i + 1u] = a[i] >> 16;
      xh[c * 16u + 8u + 2u * i] = b[i] & 0xFFFFu;
      xh[c * 16u + 8u + 2u * i + 1u] = b[i] >> 16;
    }
  }

  uint zero = 0u, scale = 0u, fp8s = 0u;
  float fp8r = 0.0;
  const uint L = FMT == 1u ? 255u : 15u;
  if (INT_FMT) {
    uint lo = LB_KV_NO_MIN, hi = 0u;
    for (uint c = 0u; c < CPL; ++c) {
      uint ch = lane + R * c;
      if (!live || ch >= NCH) continue;
      for (uint e = 0u; e < 16u; ++e) {
        lo = min(lo, lb_kv_min_key(xh[c * 16u + e], ch * 16u + e));
        hi = max(hi, lb_kv_max_key(xh[c * 16u + e]));
      }
    }
#if defined(SUBGROUP_REDUCE)
    for (uint o = R / 2u; o > 0u; o >>= 1u) {
      lo = min(lo, subgroupShuffleXor(lo, o));
      hi = max(hi, subgroupShuffleXor(hi, o));
    }
#else
    if (lane == 0u) {
      row_min[lr] = LB_KV_NO_MIN;
      row_max[lr] = 0u;
    }
    barrier();
    atomicMin(row_min[lr], lo);
    atomicMax(row_max[lr], hi);
    barrier();
    lo = row_min[lr];
    hi = row_max[lr];
#endif
    if (!live) return;
    const uint params = lb_kv_int_params(lo, hi, L);
    const uint zb = params & 0xFFFFu, sb = params >> 16;
    if (lane == 0u) {
      if (v) {
        scale_v[cache_row] = uint16_t(sb);
        zero_v[cache_row] = uint16_t(zb);
      } else {
        scale_k[cache_row] = uint16_t(sb);
        zero_k[cache_row] = uint16_t(zb);
      }
    }
    zero = lb_f16_to_f32(zb);
    scale = lb_f16_to_f32(sb);
  } else {
    if (!live) return;
    uint hs = pc.per_head != 0u ? h : 0u;
    fp8s = floatBitsToUint(v ? fp8_v[hs] : fp8_k[hs]);
    fp8r = 1.0 / uintBitsToFloat(fp8s);  // once per row: the codes need no division
  }

  const int f8 = FMT == 3u ? LB_FMT_E4M3 : LB_FMT_E5M2;
  for (uint c = 0u; c < CPL; ++c) {
    uint ch = lane + R * c;
    if (ch >= NCH) break;
    uvec4 w = uvec4(0u);
    for (uint e = 0u; e < 16u; ++e) {
      uint x = xh[c * 16u + e];
      uint code = INT_FMT ? lb_kv_int_code(x, zero, scale, L) : lb_kv_fp8_code(x, fp8s, fp8r, f8);
      w[e / EPW] |= code << (BITS * (e % EPW));
    }
    store_chunk(v, cache_row, ch, w);
  }
}
