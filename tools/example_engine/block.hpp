// block.hpp — the transformer block the example engine decodes with: sizes, random weights (int4, RTN), the
// lowbit parts of one decode step (shared by every engine: the CPU reference, Vulkan, OpenCL) and the
// engine's own ops on the host (RMSNorm, SiLU·up, residual add) for the CPU reference.
#pragma once

#include <cstdint>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace example {

// One decode step of a Llama-style block, batch 1:
//   xn = rmsnorm(x)·g1 (engine)   q,k,v = xn·Wq/Wk/Wvᵀ (lowbit W4A16)   kv_append(k, v), a = attention(q) (lowbit)
//   o = a·Woᵀ (lowbit)   h = x + o (engine)   hn = rmsnorm(h)·g2 (engine)   gate, up = hn·Wg/Wuᵀ (lowbit)
//   act = silu(gate)·up (engine)   d = act·Wdᵀ (lowbit)   x' = h + d (engine)
struct BlockSizes {
  int64_t embed = 128, q_heads = 2, kv_heads = 1, head_dim = 64, ffn = 256;
  int group = 32;
  int prefill = 5;  // tokens already in the KV cache before the decode steps (appended outside record mode)
  float eps = 1e-5f;
};

struct BlockWeights {
  BlockSizes s;
  lowbit::W4Host wq, wk, wv, wo, wg, wu, wd;
  std::vector<float> gamma1, gamma2, x0;      // x0: the first step's input (fp32 residual stream)
  std::vector<uint16_t> prefill_k, prefill_v;  // fp16 [prefill, kv_heads, head_dim]
};
BlockWeights make_block(uint32_t seed);

// The block's lowbit state on one Context: int4 layers and the KV cache holding the prefill tokens.
struct BlockOnDevice {
  lowbit::W4Layer wq, wk, wv, wo, wg, wu, wd;
  lowbit::KvCache cache;
  int seq = 0;
};
BlockOnDevice upload_block(lowbit::Context& ctx, const BlockWeights& w);

// The lowbit parts of a step. Each takes fp16 [1, n] activations and returns fp16 [1, n] results.
lowbit::Buffer attention_part(lowbit::Context& ctx, BlockOnDevice& b, const BlockSizes& s, const lowbit::Buffer& xn);
struct GateUp {
  lowbit::Buffer gate, up;
};
GateUp mlp_up_part(lowbit::Context& ctx, BlockOnDevice& b, const lowbit::Buffer& hn);
lowbit::Buffer mlp_down_part(lowbit::Context& ctx, BlockOnDevice& b, const lowbit::Buffer& act);

// The engine's ops on the host, with the storage precisions of its shaders (fp32 math, fp16 where stored).
std::vector<uint16_t> rmsnorm_host(const std::vector<float>& x, const std::vector<float>& gamma, float eps);
std::vector<float> residual_host(const std::vector<float>& x, const std::vector<uint16_t>& delta);
std::vector<uint16_t> silu_mul_host(const std::vector<uint16_t>& gate, const std::vector<uint16_t>& up);

// The residual stream after `steps` decode steps, on the CPU backend: the oracle of the engines.
std::vector<float> reference_decode(const BlockWeights& w, int steps);

}  // namespace example
