// block.cpp — weights, the lowbit parts of a decode step and the CPU reference (see block.hpp).
#include "block.hpp"

#include <bit>
#include <cmath>
#include <random>

#include "lowbit_formats.h"

namespace example {

using namespace lowbit;

namespace {

uint16_t to_f16(float x) { return uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(x))); }
float from_f16(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }

W4Host random_layer(std::mt19937& rng, int64_t n, int64_t k, int group) {
  std::normal_distribution<float> nd(0.0f, 1.0f / std::sqrt(float(k)));
  std::vector<float> w(size_t(n * k));
  for (auto& v : w) v = nd(rng);
  return quantize_w4_rtn(w.data(), n, k, group, true);
}

Buffer upload_f16(Context& ctx, const std::vector<uint16_t>& v, Shape shape) {
  return ctx.upload(DType::F16, std::move(shape), v.data(), v.size() * 2);
}

}  // namespace

BlockWeights make_block(uint32_t seed) {
  BlockWeights w;
  const BlockSizes& s = w.s;
  std::mt19937 rng(seed);
  const int64_t qn = s.q_heads * s.head_dim, kvn = s.kv_heads * s.head_dim;
  w.wq = random_layer(rng, qn, s.embed, s.group);
  w.wk = random_layer(rng, kvn, s.embed, s.group);
  w.wv = random_layer(rng, kvn, s.embed, s.group);
  w.wo = random_layer(rng, s.embed, qn, s.group);
  w.wg = random_layer(rng, s.ffn, s.embed, s.group);
  w.wu = random_layer(rng, s.ffn, s.embed, s.group);
  w.wd = random_layer(rng, s.embed, s.ffn, s.group);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> ud(0.5f, 1.5f);
  for (int64_t i = 0; i < s.embed; ++i) {
    w.gamma1.push_back(ud(rng));
    w.gamma2.push_back(ud(rng));
    w.x0.push_back(nd(rng));
  }
  for (int64_t i = 0; i < s.prefill * kvn; ++i) {
    w.prefill_k.push_back(to_f16(nd(rng)));
    w.prefill_v.push_back(to_f16(nd(rng)));
  }
  return w;
}

BlockOnDevice upload_block(Context& ctx, const BlockWeights& w) {
  const BlockSizes& s = w.s;
  BlockOnDevice b;
  b.wq = ctx.upload_w4(w.wq), b.wk = ctx.upload_w4(w.wk), b.wv = ctx.upload_w4(w.wv), b.wo = ctx.upload_w4(w.wo);
  b.wg = ctx.upload_w4(w.wg), b.wu = ctx.upload_w4(w.wu), b.wd = ctx.upload_w4(w.wd);
  b.cache = ctx.create_kv_cache({.num_pages = 4, .page_size = 16, .kv_heads = int(s.kv_heads),
                                 .head_dim = int(s.head_dim), .format = KvFormat::Int8});
  b.seq = b.cache.add_sequence();
  std::vector<int> seqs{b.seq}, counts{s.prefill};
  b.cache.extend(seqs, counts);
  ctx.kv_append(b.cache, 0, seqs, counts, upload_f16(ctx, w.prefill_k, {s.prefill, s.kv_heads, s.head_dim}),
                upload_f16(ctx, w.prefill_v, {s.prefill, s.kv_heads, s.head_dim}));
  return b;
}

Buffer attention_part(Context& ctx, BlockOnDevice& b, const BlockSizes& s, const Buffer& xn) {
  Buffer q = ctx.gemm_w4a16(xn, b.wq), k = ctx.gemm_w4a16(xn, b.wk), v = ctx.gemm_w4a16(xn, b.wv);
  std::vector<int> seqs{b.seq}, one{1};
  b.cache.extend(seqs, one);
  ctx.kv_append(b.cache, 0, seqs, one, k.view(DType::F16, {1, s.kv_heads, s.head_dim}),
                v.view(DType::F16, {1, s.kv_heads, s.head_dim}));
  Buffer a = ctx.attention(q.view(DType::F16, {1, s.q_heads, s.head_dim}), b.cache, 0, seqs, one, {.out_f32 = false});
  return ctx.gemm_w4a16(a.view(DType::F16, {1, s.q_heads * s.head_dim}), b.wo);
}

GateUp mlp_up_part(Context& ctx, BlockOnDevice& b, const Buffer& hn) {
  return {ctx.gemm_w4a16(hn, b.wg), ctx.gemm_w4a16(hn, b.wu)};
}

Buffer mlp_down_part(Context& ctx, BlockOnDevice& b, const Buffer& act) { return ctx.gemm_w4a16(act, b.wd); }

std::vector<uint16_t> rmsnorm_host(const std::vector<float>& x, const std::vector<float>& gamma, float eps) {
  float ss = 0;
  for (float v : x) ss += v * v;
  const float inv = 1.0f / std::sqrt(ss / float(x.size()) + eps);
  std::vector<uint16_t> out;
  for (size_t i = 0; i < x.size(); ++i) out.push_back(to_f16(x[i] * inv * gamma[i]));
  return out;
}

std::vector<float> residual_host(const std::vector<float>& x, const std::vector<uint16_t>& delta) {
  std::vector<float> out;
  for (size_t i = 0; i < x.size(); ++i) out.push_back(x[i] + from_f16(delta[i]));
  return out;
}

std::vector<uint16_t> silu_mul_host(const std::vector<uint16_t>& gate, const std::vector<uint16_t>& up) {
  std::vector<uint16_t> out;
  for (size_t i = 0; i < gate.size(); ++i) {
    const float g = from_f16(gate[i]);
    out.push_back(to_f16(g / (1.0f + std::exp(-g)) * from_f16(up[i])));
  }
  return out;
}

std::vector<float> reference_decode(const BlockWeights& w, int steps) {
  const BlockSizes& s = w.s;
  Context ctx = Context::create({.backend = Backend::CPU});
  BlockOnDevice b = upload_block(ctx, w);
  std::vector<float> x = w.x0;
  for (int step = 0; step < steps; ++step) {
    Buffer xn = upload_f16(ctx, rmsnorm_host(x, w.gamma1, s.eps), {1, s.embed});
    std::vector<float> h = residual_host(x, ctx.download<uint16_t>(attention_part(ctx, b, s, xn)));
    Buffer hn = upload_f16(ctx, rmsnorm_host(h, w.gamma2, s.eps), {1, s.embed});
    GateUp gu = mlp_up_part(ctx, b, hn);
    Buffer act = upload_f16(ctx, silu_mul_host(ctx.download<uint16_t>(gu.gate), ctx.download<uint16_t>(gu.up)),
                            {1, s.ffn});
    x = residual_host(h, ctx.download<uint16_t>(mlp_down_part(ctx, b, act)));
  }
  return x;
}

}  // namespace example
