// test_attention_gpu.cpp — GPU-only plans of the attention kernels: decode split-K + merge against
// one split, query-head chunks (H_q / H_kv > 8), the parallel kv_append's bytes against the CPU's
// (awkward values, ragged appends across page boundaries, every head dim), Vulkan decode with its partial
// dots summed through shared memory against subgroup shuffles (every head dim, ragged lengths), kv_append inputs split
// across storage-binding windows (Vulkan), and the typed error when a cache layer exceeds one binding.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <optional>
#include <random>

#include "host/internal_access.hpp"
#include "lowbit/lowbit.hpp"
#include "lowbit_formats.h"
#include "support/backends.hpp"
#include "support/kv_fp8_scales.hpp"
#include "support/scoped_env.hpp"

using namespace lowbit;

namespace {

std::vector<uint16_t> random_f16(size_t n, uint32_t seed, float sd) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(nd(rng))));
  return v;
}

struct Filled {
  KvCache cache;
  std::vector<int> seqs;
};

// A cache with sequences of the given lengths, K/V appended in one call.
Filled fill(Context& ctx, KvCacheOptions o, const std::vector<int>& lens, uint32_t seed) {
  int tokens = 0, pages = 0;
  for (int l : lens) tokens += l, pages += (l + o.page_size - 1) / o.page_size;
  o.num_pages = pages + 2;
  Filled f{ctx.create_kv_cache(o), {}};
  f.cache.scatter_free_pages(seed);
  for (size_t i = 0; i < lens.size(); ++i) f.seqs.push_back(f.cache.add_sequence());
  f.cache.extend(f.seqs, lens);
  auto k = random_f16(size_t(tokens) * o.kv_heads * o.head_dim, seed, 1.5f);
  auto v = random_f16(k.size(), seed + 1, 1.0f);
  Shape s{tokens, o.kv_heads, o.head_dim};
  ctx.kv_append(f.cache, 0, f.seqs, lens, ctx.upload(DType::F16, s, k.data(), k.size() * 2),
                ctx.upload(DType::F16, s, v.data(), v.size() * 2));
  return f;
}

// A decode problem: a cache filled for `lens` and one random fp16 query of `hq` heads per sequence.
struct DecodeProblem {
  Filled c;
  Buffer q;
  std::vector<int> ones;  // one query per sequence
  // The output rows, with kernel config `k` forced (nullopt: the tuning lookup's).
  std::vector<float> run(Context& ctx, const AttentionOptions& opt = {}, std::optional<KernelConfig> k = std::nullopt) {
    if (k) ctx.set_kernel_config(*k);
    auto out = ctx.download<float>(ctx.attention(q, c.cache, 0, c.seqs, ones, opt));
    if (k) ctx.set_kernel_config(std::nullopt);
    return out;
  }
};
DecodeProblem decode_problem(Context& ctx, const KvCacheOptions& o, const std::vector<int>& lens, int hq,
                             uint32_t fill_seed, uint32_t q_seed) {
  auto q = random_f16(lens.size() * hq * o.head_dim, q_seed, 1.0f);
  return {fill(ctx, o, lens, fill_seed),
          ctx.upload(DType::F16, {int64_t(lens.size()), hq, o.head_dim}, q.data(), q.size() * 2),
          std::vector<int>(lens.size(), 1)};
}

class AttentionGpu : public ::testing::TestWithParam<Backend> {};

TEST_P(AttentionGpu, SplitKDecodeMatchesOneSplitWithManyQueryHeadsPerKvHead) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  for (KvFormat f : {KvFormat::F16, KvFormat::Int4, KvFormat::E4M3}) {
    KvCacheOptions o;
    o.kv_heads = 2;
    o.head_dim = 96;
    o.format = f;
    const int Hq = 24;  // 12 query heads per kv head: two workgroup chunks of 8 and 4
    std::vector<int> lens = {1, 300, 517};
    DecodeProblem pr = decode_problem(ctx, o, lens, Hq, 7, 11);
    AttentionOptions one, many;
    one.split_pages = 1000;  // a single split: no merge pass
    many.split_pages = 1;    // a split per page: merge over up to 33 partials
    auto a = pr.run(ctx, one);
    auto b = pr.run(ctx, many);
    ASSERT_EQ(a.size(), b.size());
    size_t bad = 0;
    for (size_t i = 0; i < a.size(); ++i)
      if (!(std::fabs(a[i] - b[i]) <= 1e-5f + 1e-5f * std::fabs(a[i])) && ++bad <= 3)
        ADD_FAILURE() << to_string(f) << " element " << i << ": one split " << a[i] << ", split per page " << b[i];
    EXPECT_EQ(bad, 0u) << to_string(f);
  }
  test::expect_clean(ctx);
}

// The merge pass takes the splits' weights 256 at a time through shared memory and their partials 8 at a time:
// 2100 keys in pages of 8 with a split per page are 263 partials (a second chunk of 7: a remainder past the
// groups of 8), against one split.
TEST_P(AttentionGpu, MergeOfMoreSplitsThanOneSharedChunkMatchesOneSplit) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  KvCacheOptions o;
  o.kv_heads = 1, o.head_dim = 64, o.page_size = 8, o.format = KvFormat::Int8;
  std::vector<int> lens = {2100, 70};
  DecodeProblem pr = decode_problem(ctx, o, lens, 2, 5, 13);
  AttentionOptions one, many;
  one.split_pages = 1000;
  many.split_pages = 1;
  auto a = pr.run(ctx, one);
  auto b = pr.run(ctx, many);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5f + 1e-5f * std::fabs(a[i])) << "element " << i;
  test::expect_clean(ctx);
}

// Decode with whole key rows per invocation (KernelConfig::lanes 1: the CPU drivers' default; no
// cross-lane sums) and with 4 / 16 lanes per row (the GPUs' layout, partial dots summed by shuffles or in
// shared memory; on lavapipe 4 lanes at D 256 merge the lane groups in head-dim halves: 32 groups x 256
// floats exceed its 32 KiB) give the same rows for every format and head dim, GQA 3 and 4, ragged
// lengths, with and without a sliding window and several splits.
TEST_P(AttentionGpu, DecodeWholeRowsAgreeWithLanesPerRow) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  const std::pair<KvFormat, int> cases[] = {{KvFormat::F16, 64},   {KvFormat::Int8, 80}, {KvFormat::Int4, 96},
                                            {KvFormat::E4M3, 128}, {KvFormat::Int4, 256}, {KvFormat::E5M2, 256}};
  for (auto [f, d] : cases) {
    KvCacheOptions o;
    o.kv_heads = 2, o.head_dim = d, o.format = f, o.page_size = 16;
    const int Hq = d == 80 || d == 256 ? 6 : 8;
    std::vector<int> lens = {1, 17, 40, 300};
    DecodeProblem pr = decode_problem(ctx, o, lens, Hq, 11, 19);
    AttentionOptions opt;
    opt.window = d == 96 ? 33 : 0;
    opt.split_pages = d == 128 ? 2 : 0;
    const std::vector<float> whole = pr.run(ctx, opt, KernelConfig{.lanes = 1});
    for (const KernelConfig& k : {KernelConfig{.lanes = 4}, KernelConfig{.lanes = 16}}) {
      const std::vector<float> lanes = pr.run(ctx, opt, k);
      ASSERT_EQ(lanes.size(), whole.size());
      size_t bad = 0;
      for (size_t i = 0; i < whole.size(); ++i)
        if (!(std::fabs(lanes[i] - whole[i]) <= 1e-5f + 1e-5f * std::fabs(whole[i])) && ++bad <= 3)
          ADD_FAILURE() << to_string(f) << " D" << d << " " << to_string(k) << " element " << i << ": " << lanes[i]
                        << ", whole rows " << whole[i];
      EXPECT_EQ(bad, 0u) << to_string(f) << " D" << d << " " << to_string(k);
    }
  }
  test::expect_clean(ctx);
}

// Decode with head sets (KernelConfig::spread: the workgroup's lane groups split into sets reading the same
// keys, each serving its own query heads) gives the rows of one set: whole rows and 4 / 16 lanes per row,
// fp16 / int8 / int4 / e4m3, GQA 3 (4 sets: one without a head of its own), 4 and 8, ragged lengths, a
// sliding window, several splits, and head dim 256 with 4 lanes (the merge in head-dim halves on lavapipe).
// (spread = 1 is asked for: lavapipe's default with whole rows is 2 sets.)
TEST_P(AttentionGpu, DecodeHeadSetsAgreeWithOneSet) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  struct Case {
    KvFormat f;
    int d, g;  // head dim, query heads per kv head
    std::vector<int> lanes, spreads;
  };
  const Case cases[] = {{KvFormat::F16, 64, 3, {1}, {4}},      {KvFormat::Int8, 128, 3, {16}, {4}},
                        {KvFormat::Int4, 96, 8, {1}, {8}},     {KvFormat::E4M3, 80, 4, {4}, {4}},
                        {KvFormat::Int4, 256, 3, {4}, {2}}};
  for (const Case& cs : cases) {
    KvCacheOptions o;
    o.kv_heads = 2, o.head_dim = cs.d, o.format = cs.f, o.page_size = 16;
    std::vector<int> lens = {1, 17, 40, 300};
    DecodeProblem pr = decode_problem(ctx, o, lens, 2 * cs.g, 23, 29);
    AttentionOptions opt;
    opt.window = cs.d == 96 ? 33 : 0;
    opt.split_pages = cs.d == 128 ? 2 : 0;
    for (int lanes : cs.lanes) {
      const std::vector<float> one = pr.run(ctx, opt, KernelConfig{.lanes = lanes, .spread = 1});
      for (int spread : cs.spreads) {
        const KernelConfig k{.lanes = lanes, .spread = spread};
        const std::vector<float> sets = pr.run(ctx, opt, k);
        ASSERT_EQ(sets.size(), one.size());
        size_t bad = 0;
        for (size_t i = 0; i < one.size(); ++i)
          if (!(std::fabs(sets[i] - one[i]) <= 1e-5f + 1e-5f * std::fabs(one[i])) && ++bad <= 3)
            ADD_FAILURE() << to_string(cs.f) << " D" << cs.d << " G" << cs.g << " " << to_string(k) << " element " << i
                          << ": " << sets[i] << ", one set " << one[i];
        EXPECT_EQ(bad, 0u) << to_string(cs.f) << " D" << cs.d << " G" << cs.g << " " << to_string(k);
      }
    }
  }
  test::expect_clean(ctx);
}

// Decode's chunk (KernelConfig::elems): 8 elements (GPUs' default for the quantized formats: single-word
// int4 loads, 8-byte int8 / fp8 loads) and 16 give the same rows for every head dim, with and without the
// next step's loads in flight (variant 2: the GPUs' default).
TEST_P(AttentionGpu, DecodeChunksOf8And16AgreeForEveryHeadDim) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  const std::pair<KvFormat, int> cases[] = {
      {KvFormat::Int8, 80}, {KvFormat::Int4, 96}, {KvFormat::E4M3, 128}, {KvFormat::E5M2, 256}};  // (D 64: test_tune_families)
  for (auto [f, d] : cases) {
    KvCacheOptions o;
    o.kv_heads = 2, o.head_dim = d, o.format = f;
    const int Hq = 8;
    std::vector<int> lens = {1, 17, 300};
    DecodeProblem pr = decode_problem(ctx, o, lens, Hq, 3, 17);
    const std::vector<float> wide = pr.run(ctx, {}, KernelConfig{.elems = 16});
    for (const KernelConfig& k : {KernelConfig{.elems = 8}, KernelConfig{.variant = 2, .elems = 8}}) {
      const std::vector<float> narrow = pr.run(ctx, {}, k);
      ASSERT_EQ(narrow.size(), wide.size());
      for (size_t i = 0; i < wide.size(); ++i)
        ASSERT_NEAR(narrow[i], wide[i], 1e-5f + 1e-5f * std::fabs(wide[i]))
            << to_string(f) << " D" << d << " " << to_string(k) << " element " << i;
    }
  }
  test::expect_clean(ctx);
}

// Decode dequantizes FP8 K/V in registers (OpenCL CPU devices: 16 codes at once, lb_kv_fp8_values16): with
// one key per sequence the output row is its V row's values exactly, for every finite E4M3 / E5M2 code.
TEST_P(AttentionGpu, DecodeOfOneKeyReturnsEveryFiniteFp8ValueExactly) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  constexpr int D = 128, S = 2;  // 256 codes: two sequences of one token
  for (auto [kf, f] : {std::pair{KvFormat::E4M3, LB_FMT_E4M3}, std::pair{KvFormat::E5M2, LB_FMT_E5M2}}) {
    std::vector<uint16_t> v(S * D), k(S * D, 0x3C00), q(S * D, 0x3C00);
    std::vector<float> want(S * D);
    for (uint32_t c = 0; c < S * D; ++c) {
      const uint32_t b = fmt::lb_decode(c, 0, f, LB_FMT_F32);
      want[c] = (b & 0x7FFFFFFFu) >= 0x7F800000u ? 0.0f : std::bit_cast<float>(b);  // inf / NaN codes: 0
      v[c] = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(want[c])));
    }
    KvCacheOptions o;
    o.kv_heads = 1;
    o.head_dim = D;
    o.format = kf;
    o.num_pages = 4;
    o.k_scale = {1.0f};
    o.v_scale = {1.0f};
    KvCache cache = ctx.create_kv_cache(o);
    std::vector<int> seqs{cache.add_sequence(), cache.add_sequence()}, ones{1, 1};
    cache.extend(seqs, ones);
    Shape sh{S, 1, D};
    ctx.kv_append(cache, 0, seqs, ones, ctx.upload(DType::F16, sh, k.data(), k.size() * 2),
                  ctx.upload(DType::F16, sh, v.data(), v.size() * 2));
    auto got = ctx.download<float>(ctx.attention(ctx.upload(DType::F16, sh, q.data(), q.size() * 2), cache, 0, seqs, ones));
    ASSERT_EQ(got.size(), want.size());
    size_t bad = 0;
    for (size_t i = 0; i < want.size(); ++i)
      if (!(got[i] == want[i]) && ++bad <= 3)
        ADD_FAILURE() << to_string(kf) << " code " << std::hex << i << ": " << got[i] << ", want " << want[i];
    EXPECT_EQ(bad, 0u) << to_string(kf);
  }
  test::expect_clean(ctx);
}

// Cache bytes of the rows a test wrote: codes of K and V, then (int8/int4) their fp16 scales/zeros.
struct WrittenRows {
  std::vector<uint8_t> k, v;
  std::vector<uint16_t> ks, kz, vs, vz;
};

WrittenRows written_rows(Context& ctx, KvCache& cache, const std::vector<int>& seqs) {
  const auto& st = detail::kv_state(cache);
  const auto& l = st.layers[0];
  const size_t rb = size_t(st.row_bytes()), H = size_t(st.opts.kv_heads), P = size_t(st.opts.page_size);
  auto bytes = [&](const Buffer& b) {
    std::vector<uint8_t> v(b.bytes());
    ctx.download(b, v.data(), v.size());
    return v;
  };
  auto halves = [&](const Buffer& b) {
    std::vector<uint16_t> v(b.bytes() / 2);
    ctx.download(b, v.data(), v.size() * 2);
    return v;
  };
  const bool ints = st.opts.format == KvFormat::Int8 || st.opts.format == KvFormat::Int4;
  std::vector<uint8_t> k = bytes(l.k), v = bytes(l.v);
  std::vector<uint16_t> ks, kz, vs, vz;
  if (ints) ks = halves(l.k_scale), kz = halves(l.k_zero), vs = halves(l.v_scale), vz = halves(l.v_zero);
  WrittenRows w;
  for (int id : seqs) {
    const auto& q = st.seq(id);
    for (int j = 0; j < q.length; ++j)
      for (size_t h = 0; h < H; ++h) {
        const size_t row = (size_t(q.pages[size_t(j) / P]) * P + size_t(j) % P) * H + h;
        w.k.insert(w.k.end(), k.begin() + long(row * rb), k.begin() + long((row + 1) * rb));
        w.v.insert(w.v.end(), v.begin() + long(row * rb), v.begin() + long((row + 1) * rb));
        if (ints) w.ks.push_back(ks[row]), w.kz.push_back(kz[row]), w.vs.push_back(vs[row]), w.vz.push_back(vz[row]);
      }
  }
  return w;
}

// fp16 rows with the values that decide min/max and rounding: a row of NaNs, NaNs among values, ±0
// (which zero comes first decides the stored zero's sign), ±inf, subnormals, ±65504, all-equal rows,
// and random rows.
std::vector<uint16_t> awkward_rows(size_t rows, int D, uint32_t seed) {
  std::vector<uint16_t> x = random_f16(rows * size_t(D), seed, 2.0f);
  std::mt19937 rng(seed);
  const uint16_t specials[] = {0x7E00, 0xFE00, 0x0000, 0x8000, 0x7C00, 0xFC00, 0x0001, 0x83FF, 0x7BFF, 0xFBFF, 0x3C00};
  for (size_t r = 0; r < rows; ++r) {
    uint16_t* row = x.data() + r * size_t(D);
    switch (r % 8) {
      case 0: std::fill(row, row + D, uint16_t(0x7E00)); break;  // all NaN
      case 1: std::fill(row, row + D, uint16_t(0xC500)); break;  // all equal (-5)
      case 2:  // non-negative, min is a zero: -0 before +0 in some rows, after in others
        for (int d = 0; d < D; ++d) row[d] &= 0x7FFF;
        row[rng() % D] = 0x8000, row[rng() % D] = 0x0000;
        break;
      case 3:
        for (int i = 0; i < 6; ++i) row[rng() % D] = specials[rng() % 11];
        break;
      case 4:  // tiny spread: subnormal scales
        for (int d = 0; d < D; ++d) row[d] = uint16_t(rng() % 64);
        break;
      default: break;  // random
    }
  }
  return x;
}

// The parallel kv_append writes the CPU's bytes for every format and head dim, with ragged batches
// whose appends start mid-page and cross page boundaries (two rounds, pages scattered).
void expect_kv_append_matches_cpu(Context& gpu) {
  Context cpu = Context::create({.backend = Backend::CPU});
  const std::vector<std::vector<int>> rounds = {{5, 16, 33, 1}, {12, 1, 20, 47}};
  for (KvFormat f : {KvFormat::F16, KvFormat::Int8, KvFormat::Int4, KvFormat::E4M3, KvFormat::E5M2})
    for (int D : {64, 80, 96, 128, 256}) {
      KvCacheOptions o;
      o.kv_heads = 3;
      o.head_dim = D;
      o.format = f;
      o.num_pages = 16;
      o.page_size = 16;
      if (f == KvFormat::E4M3 || f == KvFormat::E5M2) o.k_scale = {0.02f}, o.v_scale = {0.5f, 0.01f, 3.0f};
      WrittenRows got, want;
      for (Context* ctx : {&gpu, &cpu}) {
        KvCache cache = ctx->create_kv_cache(o);
        cache.scatter_free_pages(5);
        std::vector<int> seqs;
        for (size_t i = 0; i < rounds[0].size(); ++i) seqs.push_back(cache.add_sequence());
        uint32_t seed = 100;
        for (const auto& n : rounds) {
          cache.extend(seqs, n);
          int tokens = 0;
          for (int t : n) tokens += t;
          auto k = awkward_rows(size_t(tokens) * 3, D, seed++), v = awkward_rows(size_t(tokens) * 3, D, seed++);
          Shape s{tokens, 3, D};
          ctx->kv_append(cache, 0, seqs, n, ctx->upload(DType::F16, s, k.data(), k.size() * 2),
                         ctx->upload(DType::F16, s, v.data(), v.size() * 2));
        }
        (ctx == &cpu ? want : got) = written_rows(*ctx, cache, seqs);
      }
      const std::string what = std::string(to_string(f)) + " D=" + std::to_string(D);
      EXPECT_EQ(got.k, want.k) << what << ": K codes";
      EXPECT_EQ(got.v, want.v) << what << ": V codes";
      EXPECT_EQ(got.ks, want.ks) << what << ": K scales";
      EXPECT_EQ(got.kz, want.kz) << what << ": K zeros";
      EXPECT_EQ(got.vs, want.vs) << what << ": V scales";
      EXPECT_EQ(got.vz, want.vz) << what << ": V zeros";
    }
  test::expect_clean(gpu);
}

TEST_P(AttentionGpu, KvAppendBytesMatchCpuAcrossPagesRaggedBatchesEveryHeadDim) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  expect_kv_append_matches_cpu(gpu);
}

// kv_append's FP8 codes (division-free: lb_kv_fp8_code) equal the correctly rounded division
// lb_kv_fp8_code_by_division for every fp16 x (each kv head of 512 tokens x D 128 holds all 65536) under
// every class of scale (per-head scales, 8 for K and 8 for V per append) and scales that put x / s near
// FP8 midpoints, whatever the device's reciprocal precision.
TEST_P(AttentionGpu, KvAppendFp8CodesEqualTheDivisionForEveryFp16AndScaleClass) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  constexpr int H = 8, D = 128, T = 512;
  std::vector<uint16_t> x(size_t(T) * H * D);
  for (size_t i = 0; i < x.size(); ++i) x[i] = uint16_t((i / (H * D)) * D + i % D);  // token t, dim d: t * 128 + d
  for (KvFormat kf : {KvFormat::E4M3, KvFormat::E5M2}) {
    const int f = kf == KvFormat::E4M3 ? LB_FMT_E4M3 : LB_FMT_E5M2;
    std::vector<float> scales = test::kv_fp8_scale_classes();
    const auto mids = test::kv_fp8_midpoint_cases(f, 1, 0, 9);
    for (size_t i = 0; i < mids.size(); i += mids.size() / 24) scales.push_back(mids[i].s);
    while (scales.size() % (2 * H)) scales.push_back(1.0f);
    for (size_t g = 0; g < scales.size(); g += 2 * H) {
      KvCacheOptions o;
      o.kv_heads = H;
      o.head_dim = D;
      o.format = kf;
      o.num_pages = T / o.page_size;
      o.k_scale.assign(scales.begin() + long(g), scales.begin() + long(g + H));
      o.v_scale.assign(scales.begin() + long(g + H), scales.begin() + long(g + 2 * H));
      KvCache cache = gpu.create_kv_cache(o);
      std::vector<int> seqs{cache.add_sequence()}, n{T};
      cache.extend(seqs, n);
      Buffer in = gpu.upload(DType::F16, {T, H, D}, x.data(), x.size() * 2);
      gpu.kv_append(cache, 0, seqs, n, in, in);
      const WrittenRows w = written_rows(gpu, cache, seqs);
      size_t bad = 0;
      for (size_t i = 0; i < x.size(); ++i)
        for (bool v : {false, true}) {
          const float s = scales[g + (v ? H : 0) + (i / D) % H];
          const uint32_t want = fmt::lb_kv_fp8_code_by_division(x[i], std::bit_cast<uint32_t>(s), f);
          const uint32_t got = (v ? w.v : w.k)[i];
          if (got != want && ++bad <= 3)
            ADD_FAILURE() << to_string(kf) << (v ? " V" : " K") << " x " << std::hex << x[i] << " scale "
                          << std::bit_cast<uint32_t>(s) << ": code " << got << ", division " << want;
        }
      EXPECT_EQ(bad, 0u) << to_string(kf) << " scales " << g << ".." << g + 2 * H;
    }
  }
  test::expect_clean(gpu);
}

INSTANTIATE_TEST_SUITE_P(Gpu, AttentionGpu, ::testing::ValuesIn(test::gpu_backends()), test::backend_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(AttentionGpu);

using test::ScopedEnv;

// kv_append binds its fp16 inputs in token windows when they exceed one binding; the cache bytes
// must equal those written in a single window.
TEST(AttentionVulkan, KvAppendInputsLargerThanOneBindingAreSplitByTokens) {
  KvCacheOptions o;
  o.kv_heads = 1;
  o.head_dim = 64;  // int4 rows of 32 bytes; fp16 input rows of 128 bytes
  o.format = KvFormat::Int4;
  std::vector<int> lens = {80};  // 10 KB of fp16 input, a 3.5 KB cache (7 pages)
  std::vector<uint8_t> want, got;
  for (int pass = 0; pass < 2; ++pass) {
    std::unique_ptr<ScopedEnv> range;
    if (pass) range = std::make_unique<ScopedEnv>("LOWBIT_VK_MAX_RANGE", "4096");
    LOWBIT_CONTEXT_OR_SKIP(ctx, Backend::Vulkan);
    Filled c = fill(ctx, o, lens, 3);
    auto& st = detail::kv_state(c.cache).layers[0];
    std::vector<uint8_t> bytes(st.k.bytes());
    ctx.download(st.k, bytes.data(), bytes.size());
    const auto& pages = c.cache.pages(c.seqs[0]);
    std::vector<uint8_t> rows;  // written rows only, in token order
    for (int j = 0; j < lens[0]; ++j) {
      size_t row = size_t(pages[size_t(j / o.page_size)]) * size_t(o.page_size) + size_t(j % o.page_size);
      rows.insert(rows.end(), bytes.begin() + long(row * 32), bytes.begin() + long(row * 32 + 32));
    }
    (pass ? got : want) = rows;
    test::expect_clean(ctx);
  }
  EXPECT_EQ(got, want);
}

// kv_append reduces each row's min/max by subgroup shuffles where the device has them; the shared
// atomics path (OpenCL's, and Vulkan's without shuffles) must write the same bytes.
TEST(AttentionVulkan, KvAppendWithoutSubgroupShufflesMatchesCpu) {
  test::ScopedEnv off("LOWBIT_VK_NO_SHUFFLE", "1");
  LOWBIT_CONTEXT_OR_SKIP(gpu, Backend::Vulkan);
  expect_kv_append_matches_cpu(gpu);
}

// Decode sums each key's partial dots by subgroup shuffles where the device has them; the
// shared-memory reduction (OpenCL's, and Vulkan's without shuffles) must give the same output.
TEST(AttentionVulkan, DecodeWithoutSubgroupShufflesMatchesShuffles) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, Backend::Vulkan);
  ctx.set_kernel_config(KernelConfig{.lanes = 16});  // the GPUs' layout (CPU drivers hold whole rows: no sums)
  const std::pair<KvFormat, int> cases[] = {
      {KvFormat::F16, 64}, {KvFormat::Int8, 80}, {KvFormat::Int4, 96}, {KvFormat::E4M3, 128}, {KvFormat::E5M2, 256}};
  for (auto [f, d] : cases) {
    KvCacheOptions o;
    o.kv_heads = 2;
    o.head_dim = d;
    o.format = f;
    o.page_size = d == 96 ? 8 : 16;
    const int Hq = d == 80 ? 6 : 8;  // 3 query heads per kv head: 12 logits per step, padded to 16 in the butterfly
    std::vector<int> lens = {1, 15, 16, 17, 300};
    DecodeProblem pr = decode_problem(ctx, o, lens, Hq, 5, 13);
    AttentionOptions opt;
    opt.window = d == 128 ? 40 : 0;
    auto a = pr.run(ctx, opt);
    std::vector<float> b;
    {
      ScopedEnv off("LOWBIT_VK_NO_SHUFFLE", "1");
      b = pr.run(ctx, opt);
    }
    ASSERT_EQ(a.size(), b.size());
    size_t bad = 0;
    for (size_t i = 0; i < a.size(); ++i)
      if (!(std::fabs(a[i] - b[i]) <= 1e-5f + 1e-5f * std::fabs(a[i])) && ++bad <= 3)
        ADD_FAILURE() << to_string(f) << " D" << d << " element " << i << ": shuffles " << a[i] << ", shared " << b[i];
    EXPECT_EQ(bad, 0u) << to_string(f) << " D" << d;
  }
  ctx.set_kernel_config(std::nullopt);
  test::expect_clean(ctx);
}

TEST(AttentionVulkan, CacheLayerLargerThanOneBindingIsATypedError) {
  ScopedEnv range("LOWBIT_VK_MAX_RANGE", "4096");
  LOWBIT_CONTEXT_OR_SKIP(ctx, Backend::Vulkan);
  KvCacheOptions o;
  o.kv_heads = 2;
  o.head_dim = 128;
  o.format = KvFormat::F16;  // 16 tokens x 2 heads x 256 bytes = 8 KB per page
  std::vector<int> lens = {20};
  try {
    fill(ctx, o, lens, 1);
    ctx.wait();
    FAIL() << "expected Error(Unsupported)";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("storage-buffer binding"), std::string::npos) << e.what();
  }
}

}  // namespace
