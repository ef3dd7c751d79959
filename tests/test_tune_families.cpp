// test_tune_families.cpp — the tuned kernel families of W4A8 GEMM (gemv_w4a8, tiled_w4a8), prefill
// attention and quantize / dequantize (convert): their candidates respect the device's limits, and on
// Vulkan and OpenCL every configuration tried gives the default's result — the same bytes as the CPU
// reference for W4A8 and conversions, the default's output within fp32 rounding for prefill.
#include <gtest/gtest.h>

#include <cstring>

#include "autotune/search_space.hpp"
#include "backend/attention_plan.hpp"
#include "backend/convert_plan.hpp"
#include "backend/w4a8_plan.hpp"
#include "bench/runners.hpp"
#include "support/backends.hpp"

namespace lowbit {
namespace {

const tune::Limits kSmall{.max_workgroup = 64, .shared_bytes = 16384, .subgroup = 8, .cpu = true};
const tune::Limits kBig{.max_workgroup = 1024, .shared_bytes = 65536, .subgroup = 32, .cpu = false};

// One decode step of Llama-3-8B's attention for the decode planner: batch 1, Hq 32 / Hkv 8, 8k keys, pages of 16.
detail::AttentionArgs llama3_8b_decode(uint32_t head_dim = 128, int format = 0) {
  detail::AttentionArgs a;
  a.q_heads = 32, a.batch = 1, a.max_kv = 8192;
  a.kv.kv_heads = 8, a.kv.head_dim = head_dim, a.kv.page_size = 16, a.kv.format = format;
  return a;
}

std::vector<KernelConfig> candidates(const char* family, const tune::Limits& l, const tune::Problem& p) {
  auto c = tune::candidates(tune::family(family), l, p);
  EXPECT_FALSE(c.empty());
  if (!c.empty()) {
    EXPECT_TRUE(c[0].empty()) << "the default comes first";
  }
  return c;
}

detail::DeviceProfile profile_of(const tune::Limits& l) {
  detail::DeviceProfile d;
  d.cpu = l.cpu, d.max_workgroup = l.max_workgroup, d.shared_bytes = l.shared_bytes;
  return d;
}

TEST(TuneFamilies, W4A8CandidatesFitWorkgroupSharedMemoryAndShape) {
  const tune::Problem gemv{.m = 16, .n = 4100, .k = 4096};  // N % 8 != 0
  for (const KernelConfig& c : candidates("gemv_w4a8", kSmall, gemv)) {
    if (c.empty()) continue;
    const detail::W4A8Plan p = detail::plan_w4a8(profile_of(kSmall), true, 16, 4100, 4096, 128, 0, c);
    EXPECT_LE(p.wg(), 64u) << to_string(c);
    EXPECT_LE(p.shared_bytes(), 16384u) << to_string(c);
    EXPECT_EQ(4100 % p.g.nc, 0) << to_string(c);
  }
  const tune::Problem tiled{.m = 256, .n = 4096, .k = 4096};
  const tune::Limits narrow{.max_workgroup = 128, .shared_bytes = 4096, .subgroup = 8, .cpu = false};
  for (const KernelConfig& c : candidates("tiled_w4a8", narrow, tiled)) {
    if (c.empty()) continue;
    const detail::W4A8Plan p = detail::plan_w4a8(profile_of(narrow), false, 256, 4096, 4096, 128, 0, c);
    EXPECT_LE(p.wg(), 128u) << to_string(c);
    EXPECT_LE(p.shared_bytes(), 4096u) << to_string(c);
  }
  EXPECT_GT(tune::candidates(tune::family("tiled_w4a8"), kBig, tiled).size(),
            tune::candidates(tune::family("tiled_w4a8"), narrow, tiled).size());
  EXPECT_FALSE(tune::family("gemv_w4a8").violation({.wg = 256}, kSmall, gemv).empty());
  EXPECT_FALSE(tune::family("gemv_w4a8").violation({.cols = 8}, kBig, gemv).empty());
  EXPECT_FALSE(tune::family("gemv_w4a8").violation({.split = 32}, kBig, {.m = 1, .n = 64, .k = 1024}).empty());
  EXPECT_FALSE(tune::family("tiled_w4a8").violation({.bm = 64}, narrow, tiled).empty()) << "256 invocations";
}

TEST(TuneFamilies, PrefillTilesFitSharedMemoryAndSplitTheWorkgroup) {
  for (uint32_t d : {64u, 80u, 128u, 256u}) {
    const tune::Problem p{.m = 512, .n = 0, .k = 512, .head_dim = d};
    for (const tune::Limits& l : {kSmall, kBig}) {
      for (const KernelConfig& c : candidates("attention_prefill", l, p)) {
        if (c.empty()) continue;  // the heuristic's tile (D 256 has none in 16 KiB: the op reports it)
        const detail::attn::PrefillTile t = detail::attn::prefill_tile(d, l.shared_bytes, c);
        EXPECT_LE(detail::attn::prefill_shared_bytes(d, t), l.shared_bytes) << d << " " << to_string(c);
        EXPECT_EQ(d % (detail::attn::kWorkgroup / t.rows), 0u) << d << " " << to_string(c);
        if (c.rows) {
          EXPECT_EQ(t.rows, uint32_t(c.rows)) << "the tuned tile is the one launched";
        }
        if (c.keys) {
          EXPECT_EQ(t.keys, uint32_t(c.keys));
        }
      }
    }
    EXPECT_GT(candidates("attention_prefill", kBig, p).size(), candidates("attention_prefill", kSmall, p).size()) << d;
  }
  const tune::Problem p128{.m = 512, .n = 0, .k = 512, .head_dim = 128};
  EXPECT_NE(tune::family("attention_prefill").violation({.keys = 64, .rows = 64}, kSmall, p128).find("shared memory"),
            std::string::npos);
  EXPECT_FALSE(tune::family("attention_prefill").violation({.rows = 256}, kBig, p128).empty());
  // A tile that cannot run is never launched: the planner keeps its own.
  const detail::attn::PrefillTile fallback = detail::attn::prefill_tile(128, 16384, {.keys = 64, .rows = 64});
  EXPECT_LE(detail::attn::prefill_shared_bytes(128, fallback), 16384u);
}

TEST(TuneFamilies, ConvertCandidatesFitWorkgroupAndWholeBlocks) {
  for (uint32_t block : {0u, 16u, 32u}) {
    const tune::Problem p{.m = 4096, .n = 4096, .k = 0, .block = block};
    for (const KernelConfig& c : candidates("convert", kSmall, p)) {
      EXPECT_LE(c.wg, 64) << to_string(c);
      if (block) {
        EXPECT_EQ(uint32_t(c.elems) % block, 0u) << to_string(c);
      }
    }
    EXPECT_GT(candidates("convert", kBig, p).size(), candidates("convert", kSmall, p).size()) << block;
  }
  EXPECT_FALSE(tune::family("convert").violation({.elems = 16}, kBig, {.m = 1, .n = 64, .k = 0, .block = 32}).empty());
  EXPECT_FALSE(tune::family("convert").violation({.wg = 96}, kBig, {.m = 1, .n = 64, .k = 0}).empty());
  const detail::ConvertPlan mx = detail::plan_convert(format_info(Format::MXFP4), {.wg = 128, .elems = 128}, 1024);
  EXPECT_EQ(mx.blocks, 4u);
  EXPECT_EQ(mx.wg, 128u);
  EXPECT_EQ(detail::plan_convert(format_info(Format::E4M3), {.elems = 8}, 1024).group, 8u);
}

// ---- every configuration gives the default's result on the GPU backends ----------------------------
class TuneFamiliesGpu : public ::testing::TestWithParam<Backend> {};

std::vector<uint8_t> bytes_of(Context& ctx, const Buffer& b) {
  return b.valid() ? ctx.download<uint8_t>(b) : std::vector<uint8_t>{};
}

// The result of `run` on `ctx` with `c` forced (as the tuner launches a candidate), and that the op
// looked up `family`.
template <class F>
auto forced(Context& ctx, const KernelConfig& c, const char* family, F run) {
  ctx.set_kernel_config(c);
  auto out = run();
  ctx.set_kernel_config(std::nullopt);
  EXPECT_EQ(ctx.last_kernel_choice().family, family) << to_string(c);
  EXPECT_EQ(ctx.last_kernel_choice().source, "override");
  return out;
}

TEST_P(TuneFamiliesGpu, W4A8ConfigsGiveTheCpuReferenceBits) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  for (auto [m, n, k, group] : {std::tuple<int64_t, int64_t, int64_t, int>{3, 512, 1024, 128}, {40, 136, 512, 32}}) {
    auto w = bench::random_f32(size_t(n * k), 7, 0.05f);
    const QoqHost h = quantize_qoq(w.data(), n, k, group);
    auto xh = bench::random_f16(size_t(m * k), 8, 1.0f);
    auto run = [&](Context& c) {
      const ActInt8 a = c.quantize_activations_int8(c.upload(DType::F16, {m, k}, xh.data(), xh.size() * 2));
      return bytes_of(c, c.gemm_w4a8(a, c.upload_qoq(h), {.out = DType::F32}));
    };
    const std::vector<uint8_t> ref = run(cpu);
    const bool gemv = m <= 16;
    const std::vector<KernelConfig> configs =
        gemv ? std::vector<KernelConfig>{{.wg = 64, .cols = 1, .split = 4}, {.wg = 256, .cols = 8}, {.cols = 4, .split = 2}}
             : std::vector<KernelConfig>{{.split = 2, .bm = 16, .tile = 1}, {.bm = 64, .tile = 2}, {.bm = 32, .tile = 1}};
    EXPECT_EQ(run(ctx), ref) << "default " << m << "x" << n << "x" << k;
    for (const KernelConfig& c : configs) {
      EXPECT_EQ(forced(ctx, c, gemv ? "gemv_w4a8" : "tiled_w4a8", [&] { return run(ctx); }), ref) << to_string(c);
      const GemmLaunch l = ctx.last_gemm_launch();
      if (c.split) {
        EXPECT_EQ(l.split_k, uint32_t(c.split)) << to_string(c);
      }
      if (c.wg) {
        EXPECT_EQ(l.invocations_per_workgroup, uint32_t(c.wg)) << to_string(c);
      }
    }
  }
  test::expect_clean(ctx);
}

TEST_P(TuneFamiliesGpu, ConvertConfigsGiveTheCpuReferenceBytes) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  const int64_t rows = 7, cols = 100;  // short tail blocks and a partial last group
  auto xf = bench::random_f32(size_t(rows * cols), 3, 2.0f);
  xf[5] = 1e30f, xf[17] = -0.0f, xf[40] = 3e-9f;  // saturation, signed zero, subnormal codes
  const std::vector<KernelConfig> configs = {{.wg = 32, .elems = 4}, {.wg = 256, .elems = 128}, {.elems = 64}};
  for (Format f : {Format::E4M3, Format::MXFP4, Format::MXFP6_E3M2, Format::NVFP4}) {
    const char* name = format_info(f).name;
    // quantize: codes, scales, tensor scale; dequantize: the floats
    auto quantize = [&](Context& c) {
      QTensor q = c.quantize(c.upload(DType::F32, {rows, cols}, xf.data(), xf.size() * 4), f, {.packed = true});
      std::vector<uint8_t> b = bytes_of(c, q.codes);
      for (const Buffer* s : {&q.scales, &q.tensor_scale}) {
        auto more = bytes_of(c, *s);
        b.insert(b.end(), more.begin(), more.end());
      }
      return b;
    };
    QTensor qc = cpu.quantize(cpu.upload(DType::F32, {rows, cols}, xf.data(), xf.size() * 4), f, {.packed = true});
    const std::vector<uint8_t> ref_q = quantize(cpu), ref_dq = bytes_of(cpu, cpu.dequantize(qc));
    QTensor qg = ctx.quantize(ctx.upload(DType::F32, {rows, cols}, xf.data(), xf.size() * 4), f, {.packed = true});
    auto dequantize = [&] { return bytes_of(ctx, ctx.dequantize(qg)); };
    EXPECT_EQ(quantize(ctx), ref_q) << name << " default";
    for (const KernelConfig& c : configs) {
      EXPECT_EQ(forced(ctx, c, "convert", [&] { return quantize(ctx); }), ref_q) << name << " " << to_string(c);
      EXPECT_EQ(forced(ctx, c, "convert", dequantize), ref_dq) << name << " " << to_string(c);
    }
  }
  test::expect_clean(ctx);
}

// Two sequences of `counts` tokens in a paged cache (Hq 8, Hkv 2, D 64, pages of 16) filled with random
// K/V, and `queries` random query rows.
struct KvSetup {
  static constexpr int kHq = 8, kHkv = 2, kD = 64;
  KvCache cache;
  std::vector<int> seqs, counts;
  Buffer q;
  KvSetup(Context& ctx, KvFormat format, std::vector<int> tokens, int64_t queries) : counts(std::move(tokens)) {
    KvCacheOptions co;
    co.layers = 1, co.page_size = 16, co.kv_heads = kHkv, co.head_dim = kD, co.format = format, co.num_pages = 8;
    cache = ctx.create_kv_cache(co);
    for (size_t i = 0; i < counts.size(); ++i) seqs.push_back(cache.add_sequence());
    cache.extend(seqs, counts);
    int64_t total = 0;
    for (int c : counts) total += c;
    auto kh = bench::random_f16(size_t(total * kHkv * kD), 4, 1.0f), vh = bench::random_f16(kh.size(), 5, 1.0f);
    auto qh = bench::random_f16(size_t(queries * kHq * kD), 6, 1.0f);
    ctx.kv_append(cache, 0, seqs, counts, ctx.upload(DType::F16, {total, kHkv, kD}, kh.data(), kh.size() * 2),
                  ctx.upload(DType::F16, {total, kHkv, kD}, vh.data(), vh.size() * 2));
    q = ctx.upload(DType::F16, {queries, kHq, kD}, qh.data(), qh.size() * 2);
  }
};

TEST_P(TuneFamiliesGpu, PrefillTilesGiveTheDefaultResult) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  const int tokens = 40;
  KvSetup kv(ctx, KvFormat::Int8, {tokens, tokens - 7}, 2 * tokens - 7);  // prefill: every token a query
  auto run = [&] { return ctx.download<float>(ctx.attention(kv.q, kv.cache, 0, kv.seqs, kv.counts)); };
  const std::vector<float> ref = run();
  EXPECT_EQ(ctx.last_kernel_choice().family, "attention_prefill");
  float scale = 0;
  for (float v : ref) scale = std::max(scale, std::fabs(v));
  ASSERT_GT(scale, 0.0f);
  for (const KernelConfig& c : {KernelConfig{.keys = 8, .rows = 8}, KernelConfig{.keys = 16, .rows = 32},
                                KernelConfig{.keys = 8, .rows = 64}, KernelConfig{.keys = 64}}) {
    const std::vector<float> y = forced(ctx, c, "attention_prefill", run);
    ASSERT_EQ(y.size(), ref.size());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-5f * scale) << to_string(c) << " at " << i;
  }
  test::expect_clean(ctx);
}

// Decode: `rows` caps the query heads a workgroup serves (the planner's count otherwise: the whole GQA
// group here), so K/V are read once per chunk of heads; every value gives the default's result.
TEST(TuneFamilies, DecodeHeadsPerWorkgroupOnlyLowerThePlannersCount) {
  detail::AttentionArgs a;
  a.q_heads = 8, a.batch = 1, a.max_kv = 256;
  a.kv.kv_heads = 2, a.kv.head_dim = 128, a.kv.page_size = 16, a.kv.format = 1;
  const detail::attn::DecodePlan def = detail::attn::plan_decode(a, 64, 32, true, 49152);
  EXPECT_EQ(def.heads_per_group, 4u) << "the whole group of 4 query heads";
  EXPECT_EQ(def.chunks, 1u);
  a.config.rows = 2;
  const detail::attn::DecodePlan two = detail::attn::plan_decode(a, 64, 32, true, 49152);
  EXPECT_EQ(two.heads_per_group, 2u);
  EXPECT_EQ(two.chunks, 2u);
  a.config.rows = 8;
  EXPECT_EQ(detail::attn::plan_decode(a, 64, 32, true, 49152).heads_per_group, 4u) << "never above the planner's";
}

// Decode with whole key rows per invocation (lanes per row 1, CPU drivers' layout) in a workgroup of 32:
// the final merge of its 32 lane groups takes 32 x head dim floats of shared memory, so at head dim 256 in
// 32 KiB it goes over the head dim in halves; at 128, and with the GPUs' lanes and workgroup, in one
// piece. One query head per workgroup (kCpuWholeRowLaneElems).
TEST(TuneFamilies, DecodeWholeRowsMergeTheHeadDimInSlicesWhereSharedMemoryIsShort) {
  namespace attn = detail::attn;
  detail::AttentionArgs a;
  a.q_heads = 32, a.batch = 1, a.max_kv = 4096;
  a.kv.kv_heads = 8, a.kv.page_size = 16, a.kv.format = 2;
  for (uint32_t d : {64u, 128u, 256u}) {
    a.kv.head_dim = d;
    const attn::DecodePlan p =
        attn::plan_decode(a, 4, 1, false, 32768, attn::kCpuWholeRowLaneElems, 32);
    EXPECT_EQ(p.lanes_per_row, 1u) << "D " << d;
    EXPECT_EQ(p.workgroup, 32u) << "D " << d;
    EXPECT_EQ(p.merge_slice, d == 256 ? 128u : d) << "D " << d;
    EXPECT_LE(attn::decode_shared_bytes(d, p, false), 32768u) << "D " << d;
    EXPECT_EQ(p.heads_per_group, 1u) << "D " << d << ": one query head per workgroup";
    EXPECT_EQ(p.chunks, 4u) << "D " << d;
    const attn::DecodePlan gpu = attn::plan_decode(a, 512, 16, true, 49152, attn::kGpuMaxLaneElems);
    EXPECT_EQ(gpu.workgroup, attn::kWorkgroup);
    EXPECT_EQ(gpu.merge_slice, d) << "D " << d;
  }
  a.kv.head_dim = 256;  // a workgroup that cannot fit even 8-element slices is an error, not an overflow
  EXPECT_THROW(attn::plan_decode(a, 4, 1, false, 1024, attn::kCpuWholeRowLaneElems, 32), Error);
  EXPECT_EQ(attn::cpu_decode_workgroup(8), 8u) << "a CPU device's decode workgroup is its SIMD width";
  EXPECT_EQ(attn::cpu_decode_workgroup(1), 8u);
}

// The chunk (elements of a cache row a lane loads at once): on GPUs the one that keeps a lane's q and acc
// slices within the register budget — 8 elements for the 1-byte formats and int4 at head dim 128 with 4
// query heads per kv head (16 would leave room for 2 heads only); on CPU drivers 16 (wider loads, the
// same head count); a tuned chunk as asked where the format has it (fp16: 8 only).
TEST(TuneFamilies, DecodeChunkKeepsTheLaneWithinTheRegisterBudget) {
  namespace attn = detail::attn;
  detail::AttentionArgs a = llama3_8b_decode();
  auto plan = [&](int format, uint32_t budget, uint32_t lane_cap = 16) {
    a.kv.format = format;
    return attn::plan_decode(a, 512, lane_cap, true, 49152, budget);
  };
  for (int f : {0, 1, 2, 3, 4}) {
    const attn::DecodePlan gpu = plan(f, attn::kGpuMaxLaneElems);
    EXPECT_EQ(gpu.chunk_elems, 8u) << "format " << f;
    EXPECT_EQ(gpu.lanes_per_row, 16u) << "format " << f;
    EXPECT_EQ(gpu.heads_per_group, 4u) << "format " << f;
    EXPECT_EQ(gpu.chunks, 1u) << "format " << f;
    const attn::DecodePlan cpu = plan(f, attn::kMaxLaneElems, 8);
    EXPECT_EQ(cpu.chunk_elems, f == 0 ? 8u : 16u) << "format " << f;
    EXPECT_EQ(cpu.heads_per_group, 4u) << "format " << f;
  }
  a.config.elems = 16;
  const attn::DecodePlan wide = plan(1, attn::kGpuMaxLaneElems);
  EXPECT_EQ(wide.chunk_elems, 16u);
  EXPECT_EQ(wide.lanes_per_row, 8u);
  EXPECT_EQ(wide.heads_per_group, 2u) << "16 elements x 2 heads fill the budget";
  EXPECT_EQ(wide.chunks, 2u);
  EXPECT_EQ(plan(0, attn::kGpuMaxLaneElems).chunk_elems, 8u) << "fp16 has 8-element chunks only";
  a.config = {};
  a.q_heads = 64;  // 8 query heads per kv head: 8 x 8 elements would pass the budget, so 4 per workgroup
  const attn::DecodePlan g8 = plan(0, attn::kGpuMaxLaneElems);
  EXPECT_EQ(g8.heads_per_group, 4u);
  EXPECT_EQ(g8.chunks, 2u);
}

// Head sets (KernelConfig::spread) on the GPU plan of Llama-3-8B's shape (4 query heads per kv head, 16
// lanes per row: 8 lane groups): spread 4 gives 4 sets of one head each (a lane holds one q slice and one
// accumulator slice), spread 2 two sets of 2; the workgroup still serves the whole GQA group (K/V read
// once); never more sets than heads or lane groups, a power of two; with 8 heads per kv head and spread 2
// the sets take 4 heads each, so one workgroup serves all 8.
TEST(TuneFamilies, DecodeHeadSetsSpreadTheWorkgroupsHeadsOverItsLaneGroups) {
  namespace attn = detail::attn;
  detail::AttentionArgs a = llama3_8b_decode(128, 2);
  auto plan = [&](int spread) {
    a.config.spread = spread;
    return attn::plan_decode(a, 512, 16, true, 49152, attn::kGpuMaxLaneElems);
  };
  const attn::DecodePlan one = plan(0);
  EXPECT_EQ(one.head_sets, 1u);
  EXPECT_EQ(one.heads_per_group, 4u);
  for (auto [spread, sets, heads] : {std::tuple{4, 4u, 1u}, {2, 2u, 2u}, {8, 4u, 1u}, {3, 2u, 2u}, {1, 1u, 4u}}) {
    const attn::DecodePlan p = plan(spread);
    EXPECT_EQ(p.head_sets, sets) << "spread " << spread;
    EXPECT_EQ(p.heads_per_group, heads) << "spread " << spread;
    EXPECT_EQ(p.chunks, 1u) << "spread " << spread << ": one workgroup per kv head";
    EXPECT_EQ(p.splits, one.splits) << "spread " << spread;
  }
  a.q_heads = 8;  // GQA 1: nothing to spread
  EXPECT_EQ(plan(4).head_sets, 1u);
  a.q_heads = 64;  // 8 heads per kv head: 2 sets of the budget's 4 heads
  const attn::DecodePlan g8 = plan(2);
  EXPECT_EQ(g8.head_sets, 2u);
  EXPECT_EQ(g8.heads_per_group, 4u);
  EXPECT_EQ(g8.chunks, 1u);
  a.config = {};
  a.config.spread = 4, a.config.rows = 1;  // rows lowers the heads of a set: 4 sets x 1 head, 2 chunks of 4
  const attn::DecodePlan rows = attn::plan_decode(a, 512, 16, true, 49152, attn::kGpuMaxLaneElems);
  EXPECT_EQ(rows.head_sets, 4u);
  EXPECT_EQ(rows.heads_per_group, 1u);
  EXPECT_EQ(rows.chunks, 2u);
  // CPU devices with whole rows (8 lane groups of one invocation, one head each by the budget): spread 4
  // puts the GQA group's 4 heads in one workgroup of 8
  a.q_heads = 32, a.config = {}, a.config.spread = 4;
  const attn::DecodePlan cpu = attn::plan_decode(a, 4, 1, false, 32768, attn::kCpuWholeRowLaneElems, 8);
  EXPECT_EQ(cpu.head_sets, 4u);
  EXPECT_EQ(cpu.heads_per_group, 1u);
  EXPECT_EQ(cpu.chunks, 1u);
}

// The GPU defaults (Vulkan and OpenCL on GPUs): 4 head sets (attn::kGpuHeadSets: a lane group serves one head
// at GQA 4) and keys per step within attn::kGpuMaxStepWords: 4 at head dims 64 / 128 in every format; at 96 and 256
// (a lane's slice of a row is 16 elements) int4 keeps 4, the 8-bit formats take 2 and fp16 1; a tuned count
// is taken as asked; with no budget (CPU devices) 4 as before.
TEST(TuneFamilies, DecodeGpuDefaultsKeepALanesStepWithinTheRegisterBudget) {
  namespace attn = detail::attn;
  detail::AttentionArgs a = llama3_8b_decode();
  auto plan = [&](int format, uint32_t d, uint32_t budget = attn::kGpuMaxStepWords) {
    a.kv.format = format, a.kv.head_dim = d;
    return attn::plan_decode(a, 512, 16, true, 65536, attn::kGpuMaxLaneElems, attn::kWorkgroup, attn::kGpuHeadSets,
                             budget);
  };
  for (int f : {0, 1, 2, 3, 4})
    for (uint32_t d : {64u, 128u}) {
      const attn::DecodePlan p = plan(f, d);
      EXPECT_EQ(p.head_sets, 4u) << "format " << f << " head dim " << d;
      EXPECT_EQ(p.heads_per_group, 1u) << "format " << f << " head dim " << d;
      EXPECT_EQ(p.keys_per_step, 4u) << "format " << f << " head dim " << d;
    }
  for (auto [f, keys] : {std::pair{0, 1u}, {1, 2u}, {2, 4u}, {3, 2u}, {4, 2u}})
    for (uint32_t d : {96u, 256u}) {  // 16 elements of a row per lane (96: 8 lanes, 256: 16)
      EXPECT_EQ(plan(f, d).keys_per_step, keys) << "format " << f << " head dim " << d;
      EXPECT_EQ(plan(f, d, 0).keys_per_step, 4u) << "format " << f << " head dim " << d << ", no budget";
    }
  a.config.keys = 4;
  EXPECT_EQ(plan(0, 256).keys_per_step, 4u) << "a tuned count is taken as asked";
}

// The scalar prefill's default tile on GPUs keeps rows x head dim within attn::kGpuPrefillTileElems: 32 query
// rows up to head dim 128, 16 at 256 (where 32 rows fit the shared memory of a 64 KiB device); no budget: 32.
TEST(TuneFamilies, PrefillGpuTileKeepsTheAccumulatorsInRegisters) {
  namespace attn = detail::attn;
  for (uint32_t d : {64u, 128u})
    EXPECT_EQ(attn::prefill_tile(d, 65536, {}, 0, attn::kGpuPrefillTileElems).rows, 32u) << "head dim " << d;
  const attn::PrefillTile t256 = attn::prefill_tile(256, 65536, {}, 0, attn::kGpuPrefillTileElems);
  EXPECT_EQ(t256.rows, 16u);
  EXPECT_EQ(t256.keys, 32u);
  EXPECT_EQ(attn::prefill_tile(256, 65536).rows, 32u) << "no budget: the first tile that fits";
  EXPECT_EQ(attn::prefill_tile(256, 65536, {.keys = 16, .rows = 32}, 0, attn::kGpuPrefillTileElems).rows, 32u)
      << "a tuned tile is taken as asked";
}

TEST_P(TuneFamiliesGpu, DecodeKnobsGiveTheDefaultResult) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  for (KvFormat f : {KvFormat::Int4, KvFormat::Int8, KvFormat::E4M3}) {
    KvSetup kv(ctx, f, {45, 30}, 2);  // decode: one query per sequence
    const std::vector<int> ones = {1, 1};
    auto run = [&] { return ctx.download<float>(ctx.attention(kv.q, kv.cache, 0, kv.seqs, ones)); };
    const std::vector<float> ref = run();
    EXPECT_EQ(ctx.last_kernel_choice().family, "attention_decode");
    float scale = 0;
    for (float v : ref) scale = std::max(scale, std::fabs(v));
    ASSERT_GT(scale, 0.0f);
    // variant: 1 loads and math in turn, 2 the next step's loads in flight (the GPUs' default, here on CPU
    // drivers), 3 partial dots through shared memory instead of subgroup shuffles; elems: 8- or 16-element chunks;
    // lanes: invocations per key row (1: whole rows, the CPU drivers' default; more: the GPUs' layout); spread:
    // head sets of lane groups, each serving its own query heads
    for (const KernelConfig& c :
         {KernelConfig{.rows = 1}, KernelConfig{.rows = 2}, KernelConfig{.keys = 2, .rows = 1},
          KernelConfig{.split = 1, .rows = 2}, KernelConfig{.variant = 1}, KernelConfig{.variant = 2},
          KernelConfig{.variant = 2, .keys = 2}, KernelConfig{.variant = 3}, KernelConfig{.variant = 3, .rows = 1},
          KernelConfig{.elems = 8}, KernelConfig{.elems = 16}, KernelConfig{.variant = 2, .elems = 8},
          KernelConfig{.variant = 3, .elems = 8}, KernelConfig{.lanes = 1}, KernelConfig{.lanes = 4},
          KernelConfig{.lanes = 16}, KernelConfig{.rows = 1, .lanes = 8}, KernelConfig{.variant = 3, .lanes = 8},
          KernelConfig{.variant = 2, .elems = 8, .lanes = 16}, KernelConfig{.keys = 2, .rows = 2, .lanes = 1},
          KernelConfig{.spread = 1}, KernelConfig{.spread = 4}, KernelConfig{.lanes = 16, .spread = 4},
          KernelConfig{.variant = 3, .lanes = 8, .spread = 2}}) {
      const std::vector<float> y = forced(ctx, c, "attention_decode", run);
      ASSERT_EQ(y.size(), ref.size());
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], ref[i], 1e-5f * scale) << to_string(c) << " format " << int(f) << " at " << i;
    }
  }
  test::expect_clean(ctx);
}

INSTANTIATE_TEST_SUITE_P(Gpu, TuneFamiliesGpu, ::testing::ValuesIn(test::gpu_backends()), test::backend_param_name);

}  // namespace
}  // namespace lowbit
