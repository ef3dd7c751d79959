// attention.hpp — a quantized, paged KV cache and fused attention over it (decode and prefill).
//
// Cache layout, per layer (DESIGN §5): pages of P tokens; K and V codes [num_pages, P, H_kv, D]:
//   F16   fp16 values
//   Int8  uint8 codes q, value = q * scale + zero         (asymmetric per (token, head): scale and
//   Int4  4-bit codes, two per byte (low nibble = even d)   zero fp16 [num_pages, P, H_kv])
//   E4M3 / E5M2  FP8 codes of x / s, value = fp8 * s      (s fp32 per tensor or per kv head)
// Quantization (kv_append, per (token, head) row of D values x, all in fp32):
//   int: zero = f16(min x), scale = f16((max x - min x) / L) (L = 255 or 15; 1.0 when 0),
//        q = clamp(roundEven(correctly-rounded (x - zero) / scale), 0, L)
//   fp8: code = E4M3/E5M2(correctly-rounded x / s), RNE, saturating
// so every backend writes the same bytes. A block table maps a sequence's logical page i to a
// physical page; pages come from a free list and need not be contiguous.
//
// Attention semantics: query i of a sequence with Sq queries and Skv keys sits at absolute position
// p = i + (Skv - Sq); key j is visible iff j <= p (causal) and, with window W > 0, j > p - W; a window
// implies causal. Logits s = scale * q·k (default scale 1/sqrt(D)); with softcap C > 0, s = C*tanh(s/C).
// Softmax in fp32 (online), K/V dequantized in registers. GQA/MQA: q head h reads kv head
// h / (H_q / H_kv). Head dims 64, 80, 96, 128, 256.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lowbit {

class Context;
class Buffer;

enum class KvFormat { F16, Int8, Int4, E4M3, E5M2 };
const char* to_string(KvFormat f);
KvFormat parse_kv_format(const std::string& s);  // fp16|int8|int4|e4m3|e5m2

struct KvCacheOptions {
  int layers = 1;
  int num_pages = 0;   // physical pages per layer
  int page_size = 16;  // tokens per page
  int kv_heads = 0;
  int head_dim = 0;
  KvFormat format = KvFormat::F16;
  // FP8 only: one scale for the whole tensor, or one per kv head.
  std::vector<float> k_scale = {1.0f};
  std::vector<float> v_scale = {1.0f};
};

struct AttentionOptions {
  bool causal = true;             // prefill; decode is always "all keys so far"
  int window = 0;                 // > 0: sliding window of W keys (implies causal)
  float softcap = 0.0f;           // > 0: s = C * tanh(s / C)
  std::optional<float> scale;     // default 1/sqrt(D)
  bool out_f32 = true;            // output float32, else float16
  int split_pages = 0;            // decode split-K: pages per split (0 = automatic)
};

}  // namespace lowbit
