// attention_ref.cpp — reference kv_append and attention on host memory.
//
// kv_append follows the pinned quantization of lowbit/attention.hpp with the shared integer math of
// lowbit_formats.h, so GPU backends must write the very same bytes:
//   int8/int4: mn/mx = min/max of the row (NaN entries ignored; a row of NaNs counts as 0),
//              zero = f16(mn), scale = f16(lb_div_f32(mx - mn, L)) or 1.0 when that is 0,
//              q = clamp(roundEven(lb_div_f32(x - zero, scale)), 0, L)  (NaN quotient -> 0)
//   fp8:       code = lb_encode(lb_div_f32(x, s), 0, E4M3|E5M2, saturate)
// through the per-element helpers of lowbit_formats.h ("KV cache rows") the kernels use too.
// attention dequantizes the keys/values a (sequence, kv head) can see into fp32 scratch (host memory)
// with the per-element helpers the kernels use (lowbit_formats.h, "KV cache elements"),
// then per query row: logits in fp32 (dot in d order, times scale, optional softcap), a two-pass
// softmax (max, then sum of exp) and the weighted sum of V in key order. A NaN logit makes the whole
// row NaN.
#include "backend/cpu/attention_ref.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "lowbit_formats.h"

namespace lowbit::detail {

namespace {

enum { kF16 = 0, kInt8 = 1, kInt4 = 2, kE4M3 = 3, kE5M2 = 4 };

float h2f(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }
uint32_t bits(float x) { return std::bit_cast<uint32_t>(x); }

int fp8_id(int format) { return format == kE4M3 ? LB_FMT_E4M3 : LB_FMT_E5M2; }

// Quantizes one (token, head) row of D fp16 values.
void quantize_row(const HostKvLayer& kv, const uint16_t* x, uint8_t* codes, uint16_t* scale, uint16_t* zero,
                  const float* fp8_scale, uint32_t head) {
  const uint32_t D = kv.head_dim;
  if (kv.format == kF16) {
    std::memcpy(codes, x, size_t(D) * 2);
    return;
  }
  if (kv.format == kE4M3 || kv.format == kE5M2) {
    const float s = fp8_scale[kv.fp8_per_head ? head : 0];
    const float recip = 1.0f / s;  // once per row: the codes need no division
    for (uint32_t d = 0; d < D; ++d) codes[d] = uint8_t(fmt::lb_kv_fp8_code(x[d], bits(s), recip, fp8_id(kv.format)));
    return;
  }
  // min / max as the keys the GPU kernels reduce (NaN ignored; the first of equal values wins)
  const uint32_t L = kv.format == kInt8 ? 255u : 15u;
  uint32_t lo = LB_KV_NO_MIN, hi = 0;
  for (uint32_t d = 0; d < D; ++d) {
    lo = std::min(lo, fmt::lb_kv_min_key(x[d], d));
    hi = std::max(hi, fmt::lb_kv_max_key(x[d]));
  }
  const uint32_t params = fmt::lb_kv_int_params(lo, hi, L);
  *zero = uint16_t(params & 0xFFFFu);
  *scale = uint16_t(params >> 16);
  const uint32_t zf = fmt::lb_f16_to_f32(*zero), sf = fmt::lb_f16_to_f32(*scale);
  for (uint32_t d = 0; d < D; ++d) {
    uint32_t q = fmt::lb_kv_int_code(x[d], zf, sf, L);
    if (kv.format == kInt8) {
      codes[d] = uint8_t(q);
    } else if (d % 2 == 0) {
      codes[d / 2] = uint8_t(q);
    } else {
      codes[d / 2] = uint8_t(codes[d / 2] | (q << 4));
    }
  }
}

// Dequantizes rows [j0, j1) of one kv head of one sequence's K or V into out[(j - j0) * D + d].
void dequantize_keys(const HostKvLayer& kv, bool is_v, const int32_t* table, uint32_t head, int j0, int j1,
                     float* out) {
  const uint32_t D = kv.head_dim, P = kv.page_size, H = kv.kv_heads;
  const uint32_t rb = kv_row_bytes(kv.format, D);
  const uint8_t* codes = is_v ? kv.v : kv.k;
  const uint16_t* sc16 = is_v ? kv.v_scale16 : kv.k_scale16;
  const uint16_t* z16 = is_v ? kv.v_zero16 : kv.k_zero16;
  const float* sc32 = is_v ? kv.v_scale32 : kv.k_scale32;
  for (int j = j0; j < j1; ++j) {
    const uint64_t slot = uint64_t(table[j / int(P)]) * P + uint64_t(j) % P;
    const uint64_t row = slot * H + head;
    const uint8_t* c = codes + row * rb;
    float* o = out + size_t(j - j0) * D;
    switch (kv.format) {
      case kF16:
        for (uint32_t d = 0; d < D; ++d) {
          uint16_t h;
          std::memcpy(&h, c + 2 * d, 2);
          o[d] = h2f(h);
        }
        break;
      case kInt8:
      case kInt4: {
        const float s = h2f(sc16[row]), z = h2f(z16[row]);
        for (uint32_t d = 0; d < D; ++d) {
          const uint32_t word = kv.format == kInt8 ? c[d] : c[d / 2], e = kv.format == kInt8 ? 0 : d % 2;
          o[d] = fmt::lb_kv_int_value(fmt::lb_kv_code_value(word, e, uint32_t(kv.format)), s, z);
        }
        break;
      }
      default: {
        const float s = sc32[kv.fp8_per_head ? head : 0];
        for (uint32_t d = 0; d < D; ++d)
          o[d] = fmt::lb_kv_code_value(c[d], 0, uint32_t(kv.format)) * s;
      }
    }
  }
}

void store_row(const HostAttention& a, uint64_t row, const float* o) {
  const uint32_t D = a.kv.head_dim;
  if (a.out_f32) {
    std::memcpy(static_cast<float*>(a.out) + row * D, o, size_t(D) * 4);
  } else {
    uint16_t* out = static_cast<uint16_t*>(a.out) + row * D;
    for (uint32_t d = 0; d < D; ++d) out[d] = uint16_t(fmt::lb_f32_to_f16(bits(o[d])));
  }
}

}  // namespace

uint32_t kv_row_bytes(int format, uint32_t head_dim) {
  if (format == kF16) return 2 * head_dim;
  if (format == kInt4) return head_dim / 2;
  return head_dim;
}

void kv_append_tokens(const HostKvLayer& kv, const uint16_t* k_new, const uint16_t* v_new, const int32_t* slots,
                      uint64_t t0, uint64_t t1) {
  const uint32_t D = kv.head_dim, H = kv.kv_heads, rb = kv_row_bytes(kv.format, D);
  const bool ints = kv.format == kInt8 || kv.format == kInt4;
  for (uint64_t t = t0; t < t1; ++t) {
    for (uint32_t h = 0; h < H; ++h) {
      const uint64_t src = (t * H + h) * D;
      const uint64_t row = uint64_t(slots[t]) * H + h;
      quantize_row(kv, k_new + src, kv.k + row * rb, ints ? kv.k_scale16 + row : nullptr,
                   ints ? kv.k_zero16 + row : nullptr, kv.k_scale32, h);
      quantize_row(kv, v_new + src, kv.v + row * rb, ints ? kv.v_scale16 + row : nullptr,
                   ints ? kv.v_zero16 + row : nullptr, kv.v_scale32, h);
    }
  }
}

void attention_items(const HostAttention& a, uint64_t i0, uint64_t i1) {
  const uint32_t D = a.kv.head_dim, Hkv = a.kv.kv_heads, G = a.q_heads / Hkv;
  const int W = a.window;
  const bool causal = a.causal || W > 0;
  std::vector<float> kf, vf, qf(D), o(D), s;
  for (uint64_t item = i0; item < i1; ++item) {
    const uint32_t b = uint32_t(item / Hkv), hkv = uint32_t(item % Hkv);
    const int skv = a.seq_lens[b], q0 = a.q_start[b], sq = a.q_start[b + 1] - q0;
    const int offset = skv - sq;  // absolute position of query i is i + offset
    const int32_t* table = a.block_table + uint64_t(b) * a.max_blocks;
    const int lo_all = W > 0 ? std::max(0, offset - W + 1) : 0;  // first key any query sees
    kf.resize(size_t(skv - lo_all) * D);
    vf.resize(kf.size());
    dequantize_keys(a.kv, false, table, hkv, lo_all, skv, kf.data());
    dequantize_keys(a.kv, true, table, hkv, lo_all, skv, vf.data());
    for (uint32_t g = 0; g < G; ++g) {
      const uint32_t hq = hkv * G + g;
      for (int i = 0; i < sq; ++i) {
        const uint64_t row = uint64_t(q0 + i) * a.q_heads + hq;
        for (uint32_t d = 0; d < D; ++d) qf[d] = h2f(a.q[row * D + d]);
        const int p = i + offset;
        const int hi = causal ? p : skv - 1;             // last visible key
        const int lo = W > 0 ? std::max(0, p - W + 1) : 0;  // first visible key
        s.assign(size_t(hi - lo + 1), 0.0f);
        float m = -std::numeric_limits<float>::infinity();
        bool nan = false;
        for (int j = lo; j <= hi; ++j) {
          const float* k = &kf[size_t(j - lo_all) * D];
          float dot = 0.0f;
          for (uint32_t d = 0; d < D; ++d) dot += qf[d] * k[d];
          float x = a.scale * dot;
          if (a.softcap > 0.0f) x = a.softcap * std::tanh(x / a.softcap);
          nan = nan || std::isnan(x);
          s[size_t(j - lo)] = x;
          m = std::max(m, x);
        }
        if (nan) {
          std::fill(o.begin(), o.end(), std::numeric_limits<float>::quiet_NaN());
          store_row(a, row, o.data());
          continue;
        }
        std::fill(o.begin(), o.end(), 0.0f);
        float l = 0.0f;
        for (int j = lo; j <= hi; ++j) {
          const float e = std::exp(s[size_t(j - lo)] - m);
          l += e;
          const float* v = &vf[size_t(j - lo_all) * D];
          for (uint32_t d = 0; d < D; ++d) o[d] += e * v[d];
        }
        for (uint32_t d = 0; d < D; ++d) o[d] /= l;
        store_row(a, row, o.data());
      }
    }
  }
}

}  // namespace lowbit::detail
