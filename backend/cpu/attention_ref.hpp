// attention_ref.hpp — the reference KV-cache ops on host memory: kv_append (the pinned quantization
// of lowbit/attention.hpp, bit for bit) and attention (dequantized K/V in fp32, fp32 softmax).
#pragma once

#include <cstdint>

#include "backend/device.hpp"

namespace lowbit::detail {

// One cache layer as host pointers (KvLayerArgs resolved by the CPU device).
struct HostKvLayer {
  int format = 0;  // KvFormat as int
  uint32_t num_pages = 0, page_size = 0, kv_heads = 0, head_dim = 0;
  bool fp8_per_head = false;
  uint8_t* k = nullptr;  // codes [pages, P, Hkv, row_bytes]
  uint8_t* v = nullptr;
  uint16_t* k_scale16 = nullptr;  // Int8/Int4: fp16 [pages, P, Hkv]
  uint16_t* k_zero16 = nullptr;
  uint16_t* v_scale16 = nullptr;
  uint16_t* v_zero16 = nullptr;
  const float* k_scale32 = nullptr;  // FP8: fp32 [1] or [Hkv]
  const float* v_scale32 = nullptr;
};

// Bytes of one (token, head) row of codes for a format.
uint32_t kv_row_bytes(int format, uint32_t head_dim);

// Quantizes tokens [t0, t1) of k_new / v_new (fp16 [tokens, Hkv, D]) into their slots.
void kv_append_tokens(const HostKvLayer& kv, const uint16_t* k_new, const uint16_t* v_new, const int32_t* slots,
                      uint64_t t0, uint64_t t1);

struct HostAttention {
  HostKvLayer kv;
  const uint16_t* q = nullptr;  // fp16 [total_q, Hq, D]
  const int32_t* q_start = nullptr;
  const int32_t* block_table = nullptr;
  const int32_t* seq_lens = nullptr;
  void* out = nullptr;
  bool out_f32 = true;
  uint32_t batch = 0, q_heads = 0, max_blocks = 0;
  bool causal = true;
  int window = 0;
  float softcap = 0.0f, scale = 1.0f;
};

// Computes the outputs of work items [i0, i1), item = sequence * Hkv + kv head (all q heads of the
// group and all queries of the sequence).
void attention_items(const HostAttention& a, uint64_t i0, uint64_t i1);

}  // namespace lowbit::detail
