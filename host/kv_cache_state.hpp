// kv_cache_state.hpp — what a KvCache holds (private to the library and its tests): per-layer device
// buffers (codes, int scales/zeros, fp8 scales), the free list of physical pages and, per sequence,
// its page list and length. Kept in a header so tests can read the raw cache bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/device.hpp"

namespace lowbit::detail {

// One layer's buffers. Int8/Int4: k_scale/k_zero/v_scale/v_zero are F16 [pages, P, Hkv];
// FP8: k_scale/v_scale are F32 [1] or [Hkv] (uploaded from KvCacheOptions), zeros invalid;
// F16: only k and v.
struct KvLayerBuffers {
  Buffer k, v;  // U8 [pages, P, Hkv, row_bytes]
  Buffer k_scale, k_zero, v_scale, v_zero;
};

struct KvSequence {
  bool live = false;
  int length = 0;                // tokens held
  std::vector<int32_t> pages;    // physical page of each logical page (ceil(length / P) of them)
};

struct KvCacheState {
  KvCacheOptions opts;
  const Device* owner = nullptr;   // the device of the Context that created the cache
  std::vector<KvLayerBuffers> layers;
  std::vector<int32_t> free_list;  // pages handed out from the back
  std::vector<KvSequence> seqs;    // index = sequence id

  int row_bytes() const;           // bytes of one (token, head) row of codes
  KvSequence& seq(int id);         // throws InvalidArgument for an unknown / freed id
  const KvSequence& seq(int id) const;
  KvLayerArgs layer_args(int layer) const;  // throws InvalidArgument for a bad layer index
};

}  // namespace lowbit::detail
