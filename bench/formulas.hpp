// formulas.hpp — bytes moved and floating-point operations of every benchmarked op: the one place
// these formulas live (runners, reports and tests all use them). Bytes count what the op must read and
// write at least once (inputs read once, outputs written once); flops count multiply + add as 2.
#pragma once

#include <cstdint>

#include "lowbit/lowbit.hpp"

namespace lowbit::bench {

struct Work {
  double bytes = 0;
  double flops = 0;
};

// Y[M,N] = X[M,K] · W[N,K]ᵀ, X and Y fp16.
//   f16:   W fp16                                    bytes = 2NK + 2MK + 2MN
//   w4a16: W int4 + fp16 scale (+ u8 zero) per group bytes = NK/2 + 2N(K/g) [+ N(K/g)] + 2MK + 2MN
//   w4a8:  as w4a16 but X int8 + one fp32 scale per row: bytes = NK/2 + 2N(K/g) + MK + 4M + 2MN
//   f32:   X, W, Y fp32 (CLBlast SGEMM baseline)    bytes = 4(NK + MK + MN)
// flops = 2MNK for all of them.
Work gemm_f16_work(int64_t m, int64_t n, int64_t k);
Work gemm_w4a16_work(int64_t m, int64_t n, int64_t k, int group, bool sym);
Work gemm_w4a8_work(int64_t m, int64_t n, int64_t k, int group);
Work gemm_f32_work(int64_t m, int64_t n, int64_t k);

// Device copy of `size` bytes: read once + written once = 2 × size; no flops.
Work copy_work(uint64_t size);

// quantize: read rows×cols of `src`, write codes (packed or one byte each), block scales (one byte
// each) and, for NVFP4, the fp32 tensor scale. dequantize: the reverse, writing `src` dtype.
// Counted as no flops (bit manipulation).
Work convert_work(Format f, bool packed, int64_t rows, int64_t cols, DType src, bool quantize);

// Attention over a paged KV cache: `batch` sequences, each with q_len queries (1 = decode) whose last
// query sits at position context-1 (causal), q_heads / kv_heads heads of head_dim.
struct AttentionShape {
  int batch = 1, q_len = 1, context = 1024, q_heads = 32, kv_heads = 8, head_dim = 128, page_size = 16;
};
// Bytes of one cached (token, kv head) row of K (or V): F16 2D; Int8 D + 4 (fp16 scale + zero);
// Int4 D/2 + 4; E4M3/E5M2 D (per-tensor / per-head fp32 scales are negligible).
double kv_row_bytes(KvFormat f, int head_dim);
// Keys query i (0-based) of a sequence sees: i + context - q_len + 1 (causal); summed over queries.
double attention_visible_keys(int q_len, int context);
// K/V bytes one attention call reads: batch × 2 × context × kv_heads × kv_row_bytes (reported as kv_bytes).
double attention_kv_bytes(const AttentionShape& s, KvFormat f);
// bytes = batch × (2 × context × kv_heads × kv_row_bytes     (K and V read once)
//                  + q_len × q_heads × D × (2 + 4))            (q fp16 in, out fp32)
// flops = batch × 4 × q_heads × D × visible_keys             (q·k and p·v, 2 flops per MAC each)
Work attention_work(const AttentionShape& s, KvFormat f);

// kv_append of `tokens` new (token, kv head) rows of K and V: fp16 rows read, cache rows (codes +
// scale/zero) written, the int32 slot of each token read.
// bytes = 2 × tokens × kv_heads × (2D + kv_row_bytes) + 4 × tokens; no flops.
Work kv_append_work(int64_t tokens, int kv_heads, int head_dim, KvFormat f);

}  // namespace lowbit::bench
