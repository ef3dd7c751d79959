// test_w4_pack.cpp — int4 packing: GPTQ v1/v2 and AWQ tensors written from known codes must
// dequantize to (q - zero) * scale exactly; RTN error bounds; the CPU reference GEMM against fp64.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "lowbit/lowbit.hpp"
#include "lowbit_formats.h"
#include "support/w4_checkpoints.hpp"

using namespace lowbit;

static float h2f(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }

static void expect_exact(const W4Host& got, const test::KnownW4& w) {
  auto deq = dequantize_w4(got);
  for (int64_t n = 0; n < w.n; ++n)
    for (int64_t k = 0; k < w.k; ++k)
      ASSERT_EQ(deq[size_t(n * w.k + k)], w.weight(n, k, h2f)) << "n=" << n << " k=" << k;
}

TEST(W4Pack, GptqV1AndV2DequantizeExactlyEveryGroupWithAndWithoutActOrder) {
  for (int version : {1, 2})
    for (int group : {32, 64, 128, -1})
      for (bool act : {false, true}) {
        int64_t k = 256, n = 24;
        int g = group == -1 ? int(k) : group;
        // v1 reaches zero 16 (stored nibble 15); v2 stores 0..15
        auto w = test::make_known(n, k, g, act, version == 1 ? 1 : 0, version == 1 ? 16 : 15, 17u + unsigned(group));
        std::vector<int32_t> qw, qz;
        test::write_gptq(w, version, qw, qz);
        GptqTensors t{qw.data(), qz.data(), w.scale.data(), w.g_idx.data(), k, n, group, version, false};
        W4Host h = import_gptq(t);
        EXPECT_EQ(h.perm.empty(), !act || group == -1) << "act_order keeps a permutation";
        expect_exact(h, w);
      }
}

// Groups that are not a multiple of the 8-row word: a packed word then holds rows of two groups.
TEST(W4Pack, GroupsNotAMultipleOfEightDequantizeExactly) {
  for (int group : {4, 12, 20, 24, 40})
    for (bool act : {false, true}) {
      int64_t k = 120, n = 16;
      auto w = test::make_known(n, k, group, act, 1, 16, 5u + unsigned(group));
      std::vector<int32_t> qw, qz;
      test::write_gptq(w, 1, qw, qz);
      expect_exact(import_gptq({qw.data(), qz.data(), w.scale.data(), w.g_idx.data(), k, n, group, 1, false}), w);
      if (act) continue;
      auto a = test::make_known(n, k, group, false, 0, 15, 9u + unsigned(group));
      test::write_awq(a, qw, qz);
      expect_exact(import_awq({qw.data(), qz.data(), a.scale.data(), k, n, group}), a);
    }
}

TEST(W4Pack, GptqSymmetricCheckpointBecomesSymmetricLayer) {
  auto w = test::make_known(16, 64, 32, false, 8, 8, 3);
  std::vector<int32_t> qw, qz;
  test::write_gptq(w, 1, qw, qz);
  W4Host h = import_gptq({qw.data(), qz.data(), w.scale.data(), nullptr, 64, 16, 32, 1, true});
  EXPECT_TRUE(h.sym);
  EXPECT_TRUE(h.zeros.empty());
  expect_exact(h, w);
}

TEST(W4Pack, GptqConfigThatDisagreesWithTensorsIsRejected) {
  auto w = test::make_known(16, 64, 32, false, 1, 16, 4);
  std::vector<int32_t> qw, qz;
  test::write_gptq(w, 1, qw, qz);
  EXPECT_THROW(import_gptq({qw.data(), qz.data(), w.scale.data(), nullptr, 64, 16, 32, 1, true}), Error);  // sym
  EXPECT_THROW(import_gptq({qw.data(), qz.data(), w.scale.data(), nullptr, 64, 16, 48, 1, false}), Error);  // 48 ∤ 64
  std::vector<int32_t> bad_gidx(64, 0);
  EXPECT_THROW(import_gptq({qw.data(), qz.data(), w.scale.data(), bad_gidx.data(), 64, 16, 32, 1, false}), Error);
}

TEST(W4Pack, AwqDequantizesExactly) {
  for (int group : {32, 64, 128}) {
    auto w = test::make_known(40, 256, group, false, 0, 15, 9u + unsigned(group));
    std::vector<int32_t> qw, qz;
    test::write_awq(w, qw, qz);
    W4Host h = import_awq({qw.data(), qz.data(), w.scale.data(), 256, 40, group});
    EXPECT_FALSE(h.sym);
    expect_exact(h, w);
  }
}

TEST(W4Pack, RtnErrorIsWithinHalfAStep) {
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  for (bool sym : {true, false})
    for (int group : {32, 128, -1}) {
      int64_t n = 9, k = group == -1 ? 100 : 256;  // per-channel with K not a multiple of 8
      std::vector<float> wt(size_t(n * k));
      for (auto& v : wt) v = nd(rng);
      W4Host h = quantize_w4_rtn(wt.data(), n, k, group, sym);
      auto deq = dequantize_w4(h);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c) {
          float s = h2f(h.scales[size_t((c / h.group) * n + r)]);
          // half a step, plus what rounding the scale to fp16 moves the grid's far end (16 steps)
          float tol = 0.5f * s + 16.0f * s * std::ldexp(1.0f, -11);
          ASSERT_LE(std::fabs(deq[size_t(r * k + c)] - wt[size_t(r * k + c)]), tol) << sym << " g" << group;
        }
    }
}

TEST(W4Pack, RtnRejectsBadInput) {
  std::vector<float> wt(64, 1.0f);
  EXPECT_THROW(quantize_w4_rtn(wt.data(), 2, 32, 24, true), Error);
  wt[5] = NAN;
  EXPECT_THROW(quantize_w4_rtn(wt.data(), 2, 32, 32, true), Error);
}

// The CPU reference GEMM against an fp64 dot product on the dequantized weights.
TEST(W4Gemm, CpuReferenceMatchesFp64) {
  Context cpu = Context::create({.backend = Backend::CPU});
  std::mt19937 rng(2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  int64_t m = 5, n = 24, k = 128;
  auto w = test::make_known(n, k, 32, true, 0, 15, 5);
  std::vector<int32_t> qw, qz;
  test::write_gptq(w, 2, qw, qz);
  W4Host h = import_gptq({qw.data(), qz.data(), w.scale.data(), w.g_idx.data(), k, n, 32, 2, false});
  std::vector<uint16_t> x(static_cast<size_t>(m * k)), bias(static_cast<size_t>(n));
  for (auto& v : x) v = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(nd(rng))));
  for (auto& v : bias) v = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(nd(rng))));
  W4Layer layer = cpu.upload_w4(h, bias);
  Buffer xb = cpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
  auto y = cpu.download<float>(cpu.gemm_w4a16(xb, layer, {.out = DType::F32}));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = h2f(bias[size_t(j)]), mag = std::fabs(acc);
      for (int64_t c = 0; c < k; ++c) {
        double p = double(h2f(x[size_t(i * k + c)])) * w.weight(j, c, h2f);
        acc += p;
        mag += std::fabs(p);
      }
      EXPECT_NEAR(y[size_t(i * n + j)], acc, 1e-6 * mag + 1e-6) << i << "," << j;
    }
  EXPECT_THROW(cpu.gemm_w4a16(cpu.upload(DType::F16, {m, k - 8}, x.data(), size_t(m * (k - 8)) * 2), layer), Error);
}
