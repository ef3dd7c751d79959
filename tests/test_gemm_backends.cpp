// test_gemm_backends.cpp — gemm_w4a16 and gemm_f16 on every GPU backend against the CPU reference:
// M in {1,2,3,7,8,15,16,17,33,64,128}, K and N that are no multiple of any tile, every group size,
// symmetric and asymmetric, with and without act_order, both paths, split-K, fp16 and fp32 output.
// Tolerance: each result (and the CPU reference) against the exact fp64 product of the dequantized
// weights, within the rounding bound of its path's summation order (support/gemm_bound.hpp).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "lowbit_formats.h"
#include "support/backends.hpp"
#include "support/gemm_bound.hpp"
#include "support/random_inputs.hpp"
#include "support/w4_checkpoints.hpp"

using namespace lowbit;

namespace {

float h2f(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }
uint16_t f2h(float f) { return uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(f))); }

const int64_t kMs[] = {1, 2, 3, 7, 8, 15, 16, 17, 33, 64, 128};

std::vector<uint16_t> random_f16(size_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = f2h(nd(rng));
  return v;
}

// The GPU result and the CPU reference, each within the rounding bound of its own path against the
// exact product (support/gemm_bound.hpp). `o` are the GPU's options; the CPU ran with the same output.
void expect_both_within_bound(const Context& gpu, const std::vector<float>& got, const Context& cpu,
                              const std::vector<float>& ref, const test::ExactGemm& e, const GemmOptions& o, int64_t m,
                              bool w4, int64_t k, int group, const std::string& what) {
  bool out16 = o.out == DType::F16;
  test::expect_within_bound(got, e, test::gemm_rounding_depth(gpu, o, m, w4, k, group), out16, what);
  test::expect_within_bound(ref, e, test::gemm_rounding_depth(cpu, {.out = o.out}, m, w4, k, group), out16,
                            what + " (cpu reference)");
}

std::vector<float> as_float(Context& c, const Buffer& y) {
  if (y.dtype() == DType::F32) return c.download<float>(y);
  auto h = c.download<uint16_t>(y);
  std::vector<float> f(h.size());
  for (size_t i = 0; i < h.size(); ++i) f[i] = h2f(h[i]);
  return f;
}

class GemmBackends : public ::testing::TestWithParam<Backend> {};

// One layer on both contexts for every M; the path is Auto (GEMV up to 16, tiled above) unless given.
void run_w4(Context& gpu, Context& cpu, const W4Host& h, const std::vector<uint16_t>& bias, const std::string& what,
            GemmOptions o = {}) {
  W4Layer lg = gpu.upload_w4(h, bias), lc = cpu.upload_w4(h, bias);
  for (int64_t m : kMs) {
    if (o.path == GemmPath::Gemv && m > 16) continue;  // the GEMV path is for M <= 16
    auto x = random_f16(size_t(m * h.k), uint32_t(m * 7 + h.k));
    Buffer xg = gpu.upload(DType::F16, {m, h.k}, x.data(), x.size() * 2);
    Buffer xc = cpu.upload(DType::F16, {m, h.k}, x.data(), x.size() * 2);
    GemmOptions oc = o;
    oc.path = GemmPath::Auto;
    auto ref = as_float(cpu, cpu.gemm_w4a16(xc, lc, oc));
    auto got = as_float(gpu, gpu.gemm_w4a16(xg, lg, o));
    expect_both_within_bound(gpu, got, cpu, ref, test::exact_gemm_w4(x, m, h, bias), o, m, true, h.k, h.group,
                             what + " M=" + std::to_string(m));
  }
}

}  // namespace

TEST_P(GemmBackends, W4EveryGroupSymAsymOddShapes) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  for (int group : {32, 64, 128, -1})
    for (bool sym : {true, false}) {
      int64_t n = 75, k = group == -1 ? 100 : 3 * group;  // per-channel: K not a multiple of 8
      std::vector<float> wt(size_t(n * k));
      for (auto& v : wt) v = nd(rng);
      W4Host h = quantize_w4_rtn(wt.data(), n, k, group, sym);
      auto bias = random_f16(size_t(n), 5);
      run_w4(gpu, cpu, h, group == 64 ? std::vector<uint16_t>{} : bias,
             "w4 g" + std::to_string(group) + (sym ? " sym" : " asym"));
    }
  lowbit::test::expect_clean(gpu);
}

// Groups that are not a multiple of the 8-row word (a word then straddles two groups) and
// per-channel layers with K not a multiple of 8, on both paths, symmetric and asymmetric.
TEST_P(GemmBackends, W4GroupsNotAMultipleOfEightBothPaths) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  struct Case { int64_t k; int group; int split_k; };
  // K = 1200, group 12, 2 slices: groups cut by the 256-row X chunks and by the slice edge at 600
  for (Case c : {Case{24, 8, 0}, {96, 12, 0}, {36, 12, 0}, {72, 24, 0}, {120, 40, 0}, {40, 4, 0}, {36, -1, 0},
                 {100, -1, 0}, {1200, 12, 2}})
    for (bool sym : {true, false})
      for (GemmPath p : {GemmPath::Gemv, GemmPath::Tiled}) {
        int64_t n = 72;
        std::vector<float> wt(size_t(n * c.k));
        for (auto& v : wt) v = nd(rng);
        W4Host h = quantize_w4_rtn(wt.data(), n, c.k, c.group, sym);
        run_w4(gpu, cpu, h, random_f16(size_t(n), 8),
               "w4 K=" + std::to_string(c.k) + " g" + std::to_string(c.group) + (sym ? " sym " : " asym ") +
                   to_string(p),
               {.path = p, .split_k = p == GemmPath::Gemv ? c.split_k : 0});
      }
  lowbit::test::expect_clean(gpu);
}

TEST_P(GemmBackends, W4ActOrderFromGptq) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  for (auto [k, group] : {std::pair<int64_t, int>{256, 32}, {256, 128}, {240, 12}}) {
    auto known = test::make_known(40, k, group, true, 1, 16, 77);
    std::vector<int32_t> qw, qz;
    test::write_gptq(known, 1, qw, qz);
    W4Host h = import_gptq({qw.data(), qz.data(), known.scale.data(), known.g_idx.data(), k, 40, group, 1, false});
    ASSERT_FALSE(h.perm.empty());
    run_w4(gpu, cpu, h, {}, "gptq act_order g" + std::to_string(group));
  }
  lowbit::test::expect_clean(gpu);
}

TEST_P(GemmBackends, W4ForcedPathsSplitKAndF32Output) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  std::vector<float> wt(size_t(136 * 1024));
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  for (auto& v : wt) v = u(rng);
  W4Host h = quantize_w4_rtn(wt.data(), 136, 1024, 128, false);
  run_w4(gpu, cpu, h, {}, "tiled forced", {.path = GemmPath::Tiled});
  run_w4(gpu, cpu, h, {}, "gemv split 5 f32", {.path = GemmPath::Gemv, .out = DType::F32, .split_k = 5});
  run_w4(gpu, cpu, h, random_f16(136, 3), "gemv split 3 bias", {.path = GemmPath::Gemv, .split_k = 3});
  lowbit::test::expect_clean(gpu);
}

// The lane-reduced GEMV (variant 3) forced through the kernel config on the device's own profile
// (lavapipe: partition sums shuffled in 8-lane subgroups where one holds several partitions, else the
// shared-memory tree; PoCL: the tree): N odd (one-word loads) and N % 4 == 0, groups 12 (words straddle
// groups), 128 and per channel with K % 8 != 0, sym and asym, a forced split; every M of the GEMV path
// within its rounding bound, and the same bits on a second run.
TEST_P(GemmBackends, W4LaneReducedGemvMatchesCpuAndRepeatsBitForBit) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  KernelConfig lanes;
  lanes.variant = 3;
  gpu.set_kernel_config(lanes);
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  struct Case { int64_t n, k; int group; bool sym; int split; };
  for (Case c : {Case{72, 1200, 12, false, 0}, {75, 512, 128, true, 0}, {136, 1024, 128, false, 3}, {40, 100, -1, false, 0}}) {
    std::vector<float> wt(size_t(c.n * c.k));
    for (auto& v : wt) v = nd(rng);
    W4Host h = quantize_w4_rtn(wt.data(), c.n, c.k, c.group, c.sym);
    const std::string what = "lanes N=" + std::to_string(c.n) + " K=" + std::to_string(c.k) + " g" +
                             std::to_string(c.group) + (c.sym ? " sym" : " asym") + " split " + std::to_string(c.split);
    run_w4(gpu, cpu, h, random_f16(size_t(c.n), 9), what, {.path = GemmPath::Gemv, .split_k = c.split});
    EXPECT_EQ(gpu.last_gemm_launch().gemv_variant, 3u) << what;
    W4Layer l = gpu.upload_w4(h);
    auto x = random_f16(size_t(16 * c.k), 3);
    Buffer xb = gpu.upload(DType::F16, {16, c.k}, x.data(), x.size() * 2);
    const GemmOptions o{.path = GemmPath::Gemv, .out = DType::F32, .split_k = c.split};
    auto first = gpu.download<float>(gpu.gemm_w4a16(xb, l, o)), second = gpu.download<float>(gpu.gemm_w4a16(xb, l, o));
    EXPECT_EQ(first, second) << what << ": not the same bits run to run";
  }
  lowbit::test::expect_clean(gpu);
}

// Explicit split-K on the tiled path: 2 and 3 K slices (whole BK steps each, a reduce pass after),
// int4 (a group of 128 and one of 12, whose words straddle groups) and fp16 weights, against the CPU
// reference; the launch must report the slices it ran.
TEST_P(GemmBackends, TiledSplitKTwoAndThreeMatchCpu) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  std::mt19937 rng(21);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  for (auto [k, group] : {std::pair<int64_t, int>{1024, 128}, {1200, 12}}) {
    std::vector<float> wt(size_t(136 * k));
    for (auto& v : wt) v = nd(rng);
    W4Host h = quantize_w4_rtn(wt.data(), 136, k, group, false);
    for (int split : {2, 3}) {
      std::string what = "tiled split " + std::to_string(split) + " g" + std::to_string(group);
      run_w4(gpu, cpu, h, random_f16(136, 3), what, {.path = GemmPath::Tiled, .split_k = split});
      EXPECT_EQ(gpu.last_gemm_launch().split_k, uint32_t(split)) << what;
      run_w4(gpu, cpu, h, {}, what + " f32", {.path = GemmPath::Tiled, .out = DType::F32, .split_k = split});
    }
  }
  const int64_t n = 75, k = 520, m = 33;  // fp16 weights, K not a multiple of the tile
  auto w = random_f16(size_t(n * k), 12, 0.1f), x = random_f16(size_t(m * k), 13), bias = random_f16(size_t(n), 14);
  std::vector<float> wf(w.size());
  for (size_t i = 0; i < w.size(); ++i) wf[i] = h2f(w[i]);
  auto e = test::exact_gemm(x, m, k, n, [&](int64_t j, float* row) { std::copy_n(&wf[size_t(j * k)], k, row); }, bias);
  Buffer wg = gpu.upload(DType::F16, {n, k}, w.data(), w.size() * 2), wc = cpu.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
  Buffer bg = gpu.upload(DType::F16, {n}, bias.data(), bias.size() * 2), bc = cpu.upload(DType::F16, {n}, bias.data(), bias.size() * 2);
  Buffer xg = gpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2), xc = cpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
  auto ref = as_float(cpu, cpu.gemm_f16(xc, wc, bc, {.out = DType::F32}));
  for (int split : {2, 3}) {
    const GemmOptions o{.path = GemmPath::Tiled, .out = DType::F32, .split_k = split};
    auto got = as_float(gpu, gpu.gemm_f16(xg, wg, bg, o));
    EXPECT_EQ(gpu.last_gemm_launch().split_k, uint32_t(split));
    expect_both_within_bound(gpu, got, cpu, ref, e, o, m, false, k, 0, "f16 tiled split " + std::to_string(split));
  }
  lowbit::test::expect_clean(gpu);
}

// The K pipeline changes when loads and dequantization happen, never what is summed in which order:
// every depth (1 serial, 2, 3, 4) gives the same bits as the serial variant, for int4 (groups of 128
// and 12, sym and asym, K and N odd) and fp16 weights, M on every tile height, with and without split-K.
TEST_P(GemmBackends, TiledSerialAndPipelinedAreBitIdentical) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  std::mt19937 rng(22);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  auto bits = [&](const Buffer& y) { return gpu.download<uint32_t>(y); };
  // each case's M rows pick the tile heights (and so the pipelines compiled) it covers
  struct Case { int64_t n, k; int group; bool sym; std::vector<int64_t> ms; bool f16; };
  for (const Case& c : {Case{136, 1024, 128, false, {17, 100}, true}, Case{75, 1200, 12, true, {40}, false},
                        Case{70, 100, -1, false, {100}, true}}) {
    std::vector<float> wt(size_t(c.n * c.k));
    for (auto& v : wt) v = nd(rng);
    W4Layer l = gpu.upload_w4(quantize_w4_rtn(wt.data(), c.n, c.k, c.group, c.sym), random_f16(size_t(c.n), 15));
    auto wh = random_f16(size_t(c.n * c.k), 16, 0.1f);
    Buffer w16 = gpu.upload(DType::F16, {c.n, c.k}, wh.data(), wh.size() * 2);
    for (int64_t m : c.ms)
      for (int split : {0, 2}) {
        auto x = random_f16(size_t(m * c.k), uint32_t(m + c.k));
        Buffer xg = gpu.upload(DType::F16, {m, c.k}, x.data(), x.size() * 2);
        std::string what = "N=" + std::to_string(c.n) + " K=" + std::to_string(c.k) + " g" + std::to_string(c.group) +
                           " M=" + std::to_string(m) + " split " + std::to_string(split);
        const bool f16 = c.f16 && m > 32;
        GemmOptions o{.path = GemmPath::Tiled, .out = DType::F32, .split_k = split, .stages = 1};
        auto serial_w4 = bits(gpu.gemm_w4a16(xg, l, o));
        ASSERT_EQ(gpu.last_gemm_launch().stages, 1u) << what;
        auto serial_f16 = f16 ? bits(gpu.gemm_f16(xg, w16, {}, o)) : std::vector<uint32_t>{};
        for (int stages : {2, 3, 4}) {
          o.stages = stages;
          EXPECT_EQ(bits(gpu.gemm_w4a16(xg, l, o)), serial_w4) << "w4 " << what << " stages " << stages;
          EXPECT_EQ(gpu.last_gemm_launch().stages, uint32_t(stages)) << what;
          if (f16) {
            EXPECT_EQ(bits(gpu.gemm_f16(xg, w16, {}, o)), serial_f16) << "f16 " << what << " stages " << stages;
          }
        }
      }
  }
  lowbit::test::expect_clean(gpu);
}

TEST_P(GemmBackends, F16BaselineOddShapesBothPaths) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  for (auto [n, k] : {std::pair<int64_t, int64_t>{75, 100}, {130, 264}, {33, 7}}) {
    auto w = random_f16(size_t(n * k), uint32_t(n + k), 0.1f);
    std::vector<float> wf(w.size());
    for (size_t i = 0; i < w.size(); ++i) wf[i] = h2f(w[i]);
    auto bias = random_f16(size_t(n), 9);
    Buffer wg = gpu.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
    Buffer wc = cpu.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
    Buffer bg = gpu.upload(DType::F16, {n}, bias.data(), bias.size() * 2);
    Buffer bc = cpu.upload(DType::F16, {n}, bias.data(), bias.size() * 2);
    for (int64_t m : kMs)
      for (GemmPath p : {GemmPath::Auto, GemmPath::Gemv, GemmPath::Tiled}) {
        if (p == GemmPath::Gemv && m > 16) continue;
        auto x = random_f16(size_t(m * k), uint32_t(m));
        Buffer xg = gpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
        Buffer xc = cpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
        auto ref = as_float(cpu, cpu.gemm_f16(xc, wc, bc, {.out = DType::F32}));
        auto got = as_float(gpu, gpu.gemm_f16(xg, wg, bg, {.path = p, .out = DType::F32}));
        auto e = test::exact_gemm(x, m, k, n, [&](int64_t j, float* row) { std::copy_n(&wf[size_t(j * k)], k, row); }, bias);
        expect_both_within_bound(gpu, got, cpu, ref, e, {.path = p, .out = DType::F32}, m, false, k, 0,
                                 "f16 " + std::string(to_string(p)) + " N=" + std::to_string(n) + " K=" +
                                     std::to_string(k) + " M=" + std::to_string(m));
      }
  }
  lowbit::test::expect_clean(gpu);
}

namespace {

// fp32 bias values that fp16 cannot hold (|b| around 1000, where fp16's step is 0.5).
std::vector<float> f32_bias_values(int64_t n) {
  std::vector<float> b(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) b[size_t(i)] = 1000.0f + 0.1234567f * float(i) - 37.0f * float(i % 3);
  return b;
}

// With X = 0, Y is the bias itself: an F32 bias must come out bit for bit (not rounded to fp16), for the
// int4 GEMM on the GEMV path (split-K and not), the tiled path and the fp16 GEMM.
void expect_y_is_f32_bias(Context& ctx, const std::string& where) {
  const int64_t n = 75, k = 128;
  std::vector<float> wt(size_t(n * k), 0.01f);
  W4Host h = quantize_w4_rtn(wt.data(), n, k, 32, true);
  auto bias = f32_bias_values(n);
  W4Layer l = ctx.upload_w4(h);
  l.bias = ctx.upload(DType::F32, {n}, bias.data(), bias.size() * 4);
  std::vector<uint16_t> wh(size_t(n * k), f2h(0.01f));
  Buffer w16 = ctx.upload(DType::F16, {n, k}, wh.data(), wh.size() * 2);
  for (int64_t m : {1, 33}) {
    std::vector<uint16_t> zeros(size_t(m * k), 0);
    Buffer x = ctx.upload(DType::F16, {m, k}, zeros.data(), zeros.size() * 2);
    std::vector<std::pair<std::string, std::vector<float>>> ys;
    ys.push_back({"w4 auto", ctx.download<float>(ctx.gemm_w4a16(x, l, {.out = DType::F32}))});
    ys.push_back({"f16 auto", ctx.download<float>(ctx.gemm_f16(x, w16, l.bias, {.out = DType::F32}))});
    if (m == 1)
      ys.push_back({"w4 gemv split 3",
                    ctx.download<float>(ctx.gemm_w4a16(x, l, {.path = GemmPath::Gemv, .out = DType::F32, .split_k = 3}))});
    for (const auto& [what, y] : ys)
      for (int64_t i = 0; i < m * n; ++i)
        ASSERT_EQ(y[size_t(i)], bias[size_t(i % n)]) << where << " " << what << " M=" << m << " y[" << i << "]";
  }
}

}  // namespace

TEST(GemmF32Bias, CpuReferenceAddsItAtFp32Precision) {
  Context cpu = Context::create({.backend = Backend::CPU});
  expect_y_is_f32_bias(cpu, "cpu");
}

TEST_P(GemmBackends, F32BiasIsAddedAtFp32PrecisionAndMatchesCpu) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  expect_y_is_f32_bias(gpu, to_string(GetParam()));
  // Non-zero X: every path against the CPU reference, with an F32 bias of ordinary size.
  const int64_t n = 136, k = 1024;
  std::vector<float> wt(size_t(n * k));
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 0.05f), nb(0.0f, 1.0f);
  for (auto& v : wt) v = nd(rng);
  std::vector<float> bias(static_cast<size_t>(n));
  for (auto& v : bias) v = nb(rng);
  W4Host h = quantize_w4_rtn(wt.data(), n, k, 128, false);
  W4Layer lg = gpu.upload_w4(h), lc = cpu.upload_w4(h);
  lg.bias = gpu.upload(DType::F32, {n}, bias.data(), bias.size() * 4);
  lc.bias = cpu.upload(DType::F32, {n}, bias.data(), bias.size() * 4);
  for (int64_t m : {1, 7, 33})
    for (GemmPath p : {GemmPath::Gemv, GemmPath::Tiled}) {
      if (p == GemmPath::Gemv && m > 16) continue;
      auto x = random_f16(size_t(m * k), uint32_t(m + 11));
      Buffer xg = gpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
      Buffer xc = cpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
      for (DType out : {DType::F32, DType::F16}) {
        GemmOptions o{.path = p, .out = out};
        auto ref = as_float(cpu, cpu.gemm_w4a16(xc, lc, {.out = out}));
        auto got = as_float(gpu, gpu.gemm_w4a16(xg, lg, o));
        expect_both_within_bound(gpu, got, cpu, ref, test::exact_gemm_w4(x, m, h, bias), o, m, true, k, h.group,
                                 std::string("f32 bias ") + to_string(p) + " " + to_string(out) + " M=" + std::to_string(m));
      }
    }
  lowbit::test::expect_clean(gpu);
}

TEST(GemmF32Bias, RejectsABiasOfAnotherTypeOrLength) {
  Context cpu = Context::create({.backend = Backend::CPU});
  std::vector<uint16_t> w(8 * 16, 0), x(16, 0);
  std::vector<int32_t> bad(8, 0);
  std::vector<float> short_bias(7, 0.0f);
  Buffer wb = cpu.upload(DType::F16, {8, 16}, w.data(), w.size() * 2);
  Buffer xb = cpu.upload(DType::F16, {1, 16}, x.data(), x.size() * 2);
  EXPECT_THROW(cpu.gemm_f16(xb, wb, cpu.upload(DType::I32, {8}, bad.data(), bad.size() * 4)), Error);
  EXPECT_THROW(cpu.gemm_f16(xb, wb, cpu.upload(DType::F32, {7}, short_bias.data(), short_bias.size() * 4)), Error);
}

INSTANTIATE_TEST_SUITE_P(Gpu, GemmBackends, ::testing::ValuesIn(lowbit::test::gpu_backends()),
                         lowbit::test::backend_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GemmBackends);

TEST(GemmApi, RejectsBadShapes) {
  Context cpu = Context::create({.backend = Backend::CPU});
  std::vector<float> wt(64 * 32, 0.01f);
  W4Layer l = cpu.upload_w4(quantize_w4_rtn(wt.data(), 64, 32, 32, true));
  auto x = random_f16(3 * 40, 1);
  Buffer bad_k = cpu.upload(DType::F16, {3, 40}, x.data(), x.size() * 2);
  EXPECT_THROW(cpu.gemm_w4a16(bad_k, l), Error);
  Buffer f32 = cpu.upload(DType::F32, {3, 10}, x.data(), 120);
  EXPECT_THROW(cpu.gemm_w4a16(f32, l), Error);
  Buffer x1 = cpu.upload(DType::F16, {1, 32}, x.data(), 64);
  EXPECT_THROW(cpu.gemm_w4a16(x1, l, {.out = DType::U8}), Error);
  EXPECT_THROW(cpu.gemm_w4a16(x1, l, {.path = GemmPath::CoopMatrix}), Error);
  auto x17 = random_f16(17 * 32, 2);
  EXPECT_THROW(cpu.gemm_w4a16(cpu.upload(DType::F16, {17, 32}, x17.data(), x17.size() * 2), l, {.path = GemmPath::Gemv}), Error);
  EXPECT_THROW(cpu.upload_w4(quantize_w4_rtn(wt.data(), 64, 32, 32, true), std::vector<uint16_t>(3)), Error);
}

namespace {
// A Vulkan context created while an environment switch is set (the device reads it at creation).
bool vulkan_context_with(Context& gpu, std::string& why, const char* var, const char* value) {
  setenv(var, value, 1);
  bool ok = lowbit::test::make_context(Backend::Vulkan, gpu, why);
  unsetenv(var);
  return ok;
}

}  // namespace

// int4 weights of more than 128 MiB (lavapipe's storage-binding limit) are bound in K windows.
TEST_P(GemmBackends, W4WeightsLargerThanOneStorageBinding) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  W4Host h = test::random_w4_layer(8192, 33792, 128, 4);  // 138 MB of qweight
  ASSERT_GT(h.qweight.size() * 4, size_t(128) << 20);
  W4Layer lg = gpu.upload_w4(h), lc = cpu.upload_w4(h);
  for (int64_t m : {1, 3}) {
    auto x = random_f16(size_t(m * h.k), uint32_t(m));
    Buffer xg = gpu.upload(DType::F16, {m, h.k}, x.data(), x.size() * 2);
    Buffer xc = cpu.upload(DType::F16, {m, h.k}, x.data(), x.size() * 2);
    auto ref = as_float(cpu, cpu.gemm_w4a16(xc, lc, {.out = DType::F32}));
    auto got = as_float(gpu, gpu.gemm_w4a16(xg, lg, {.out = DType::F32}));
    expect_both_within_bound(gpu, got, cpu, ref, test::exact_gemm_w4(x, m, h), {.out = DType::F32}, m, true, h.k,
                             h.group, "138 MB layer M=" + std::to_string(m));
  }
  lowbit::test::expect_clean(gpu);
}

// The bound can fail: the same 138 MB layer on the device with one K row lost (its codes set to the
// zero point, the row of the largest |x_k|) must be caught on the GEMV path, where the old tolerance
// K·2^-23·Σ|x w| let it pass.
TEST_P(GemmBackends, W4LostKRowOfABigLayerFailsTheBound) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  W4Host h = test::random_w4_layer(8192, 33792, 128, 4);
  auto x = random_f16(size_t(h.k), 1);
  int64_t lost = 0;
  for (int64_t k = 0; k < h.k; ++k)
    if (std::fabs(h2f(x[size_t(k)])) > std::fabs(h2f(x[size_t(lost)]))) lost = k;
  W4Host broken = h;
  for (int64_t n = 0; n < h.n; ++n) {
    uint32_t& word = broken.qweight[size_t((lost / 8) * h.n + n)];
    int sh = 4 * w4_nibble(int(lost % 8));
    word = (word & ~(0xFu << sh)) | (h.zero(n, lost / h.group) << sh);
  }
  const GemmOptions o{.path = GemmPath::Gemv, .out = DType::F32};
  auto got = as_float(gpu, gpu.gemm_w4a16(gpu.upload(DType::F16, {1, h.k}, x.data(), x.size() * 2),
                                          gpu.upload_w4(broken), o));
  auto e = test::exact_gemm_w4(x, 1, h);
  uint64_t d = test::gemm_rounding_depth(gpu, o, 1, true, h.k, h.group);
  size_t caught = test::count_outside_bound(got, e, d, false, "lost row", false);
  size_t old_caught = 0;
  for (size_t i = 0; i < got.size(); ++i)
    old_caught += !(std::fabs(got[i] - e.y[i]) <= double(h.k) * std::ldexp(1.0, -23) * e.mag[i] + 1e-6);
  std::printf("lost K row %lld: %zu of %lld outputs outside the bound (d = %llu), %zu outside the old K*2^-23 tolerance\n",
              (long long)lost, caught, (long long)h.n, (unsigned long long)d, old_caught);
  EXPECT_GT(caught, size_t(h.n) / 2) << "a lost K row went unnoticed";
  lowbit::test::expect_clean(gpu);
}

// The same windowing on small shapes: the Vulkan binding range lowered to 64 KiB, both weight types,
// both paths.
TEST(GemmVulkanWindows, WeightsSplitAcrossBindingsWithLoweredRange) {
  Context gpu;
  std::string why;
  if (!vulkan_context_with(gpu, why, "LOWBIT_VK_MAX_RANGE", "65536")) GTEST_SKIP() << why;
  Context cpu = Context::create({.backend = Backend::CPU});
  W4Host h = test::random_w4_layer(264, 1024, 64, 9);  // 135 KiB of qweight
  W4Host h12 = test::random_w4_layer(264, 1032, 12, 10);  // words straddling groups of 12, groups cut by windows
  W4Layer lg = gpu.upload_w4(h), lc = cpu.upload_w4(h), lg12 = gpu.upload_w4(h12), lc12 = cpu.upload_w4(h12);
  auto wf16 = random_f16(size_t(264 * 1024), 3, 0.05f);  // 528 KiB of fp16 weights
  Buffer wg = gpu.upload(DType::F16, {264, 1024}, wf16.data(), wf16.size() * 2);
  Buffer wc = cpu.upload(DType::F16, {264, 1024}, wf16.data(), wf16.size() * 2);
  auto f16_row = [&](int64_t j, float* row) {
    for (int64_t c = 0; c < 1024; ++c) row[c] = h2f(wf16[size_t(j * 1024 + c)]);
  };
  for (int64_t m : {1, 5, 20})
    for (GemmPath p : {GemmPath::Gemv, GemmPath::Tiled}) {
      if (p == GemmPath::Gemv && m > 16) continue;
      const GemmOptions o{.path = p, .out = DType::F32}, oc{.out = DType::F32};
      auto x = random_f16(size_t(m * 1024), uint32_t(m)), x12 = random_f16(size_t(m * 1032), uint32_t(m + 1));
      Buffer xg = gpu.upload(DType::F16, {m, 1024}, x.data(), x.size() * 2);
      Buffer xc = cpu.upload(DType::F16, {m, 1024}, x.data(), x.size() * 2);
      Buffer x12g = gpu.upload(DType::F16, {m, 1032}, x12.data(), x12.size() * 2);
      Buffer x12c = cpu.upload(DType::F16, {m, 1032}, x12.data(), x12.size() * 2);
      std::string what = std::string(to_string(p)) + " M=" + std::to_string(m);
      expect_both_within_bound(gpu, as_float(gpu, gpu.gemm_w4a16(xg, lg, o)), cpu, as_float(cpu, cpu.gemm_w4a16(xc, lc, oc)),
                               test::exact_gemm_w4(x, m, h), o, m, true, 1024, 64, "w4 " + what);
      expect_both_within_bound(gpu, as_float(gpu, gpu.gemm_w4a16(x12g, lg12, o)), cpu,
                               as_float(cpu, cpu.gemm_w4a16(x12c, lc12, oc)), test::exact_gemm_w4(x12, m, h12), o, m,
                               true, 1032, 12, "w4 g12 " + what);
      expect_both_within_bound(gpu, as_float(gpu, gpu.gemm_f16(xg, wg, {}, o)), cpu,
                               as_float(cpu, cpu.gemm_f16(xc, wc, {}, oc)), test::exact_gemm(x, m, 1024, 264, f16_row),
                               o, m, false, 1024, 0, "f16 " + what);
    }
  lowbit::test::expect_clean(gpu);
}

// The int4 GEMV has two dequantization variants on Vulkan: the fp16 exponent trick (devices with fp16
// arithmetic, as lavapipe) and the portable fp32 path; the suites above run the first, this the second.
TEST(GemmVulkanPortableDequant, MatchesCpuWithoutFp16Arithmetic) {
  Context gpu;
  std::string why;
  if (!vulkan_context_with(gpu, why, "LOWBIT_VK_NO_F16_DEQUANT", "1")) GTEST_SKIP() << why;
  Context cpu = Context::create({.backend = Backend::CPU});
  std::mt19937 rng(4);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  for (int64_t n : {75, 136}) {  // 1 and 8 (or 4) columns per invocation
    std::vector<float> wt(size_t(n * 256));
    for (auto& v : wt) v = nd(rng);
    W4Host h = quantize_w4_rtn(wt.data(), n, 256, 64, false);
    run_w4(gpu, cpu, h, random_f16(size_t(n), 6), "portable dequant N=" + std::to_string(n), {.path = GemmPath::Gemv});
    h = quantize_w4_rtn(wt.data(), n, 240, 12, true);  // words straddling two groups
    run_w4(gpu, cpu, h, {}, "portable dequant g12 N=" + std::to_string(n), {.path = GemmPath::Gemv});
    KernelConfig lanes;  // the lane-reduced form's portable build (gemm_gemv_sg where shuffles are)
    lanes.variant = 3;
    gpu.set_kernel_config(lanes);
    run_w4(gpu, cpu, h, {}, "portable dequant lanes g12 N=" + std::to_string(n), {.path = GemmPath::Gemv});
    gpu.set_kernel_config(std::nullopt);
  }
  lowbit::test::expect_clean(gpu);
}

// Each cooperative-matrix variant on its own (KHR: $LOWBIT_VK_NO_COOPMAT_NV, NV: $LOWBIT_VK_NO_COOPMAT_KHR)
// against the CPU: int4 with every group (sym / asym, groups straddling words), fp16 weights with K odd
// (the unvectorized loads) and not a multiple of the 32-row K step, pipelined and serial K loop, every M. Afterwards the variant must still be the device's choice for M = 64: a variant that
// failed its first-use check falls back to the tiled path silently, which this catches. Runs on GPUs with
// cooperative matrices (lavapipe has none: skipped); KHR is off under a validation layer older than it.
TEST(GemmVulkanCoopMatrix, EachVariantMatchesCpu) {
  Context cpu = Context::create({.backend = Backend::CPU});
  std::mt19937 rng(12);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::string ran, why_not;
  for (auto [off, variant] : {std::pair<const char*, const char*>{"LOWBIT_VK_NO_COOPMAT_NV", "KHR"},
                              {"LOWBIT_VK_NO_COOPMAT_KHR", "NV"}}) {
    Context gpu;
    std::string why;
    if (!vulkan_context_with(gpu, why, off, "1")) GTEST_SKIP() << why;
    if (gpu.choose_gemm_path(64) != GemmPath::CoopMatrix) {
      why_not += std::string(" ") + variant + ": not enabled on " + gpu.device_info().name + ";";
      continue;
    }
    ran += std::string(" ") + variant;
    for (int stages : {0, 1, 3, 4})
      for (auto [k, group] : {std::pair<int64_t, int>{256, 32}, {384, 128}, {240, 12}, {100, -1}})
        for (bool sym : {true, false}) {
          int64_t n = 72 + 64 * (k % 3);
          std::vector<float> wt(size_t(n * k));
          for (auto& v : wt) v = nd(rng);
          W4Host h = quantize_w4_rtn(wt.data(), n, k, group, sym);
          run_w4(gpu, cpu, h, sym ? random_f16(size_t(n), 3) : std::vector<uint16_t>{},
                 std::string(variant) + " w4 K=" + std::to_string(k) + " g" + std::to_string(group) +
                     (sym ? " sym" : " asym") + " stages " + std::to_string(stages),
                 {.path = GemmPath::CoopMatrix, .out = sym ? DType::F16 : DType::F32, .stages = stages});
        }
    for (auto [n, k] : {std::pair<int64_t, int64_t>{75, 37}, {130, 264}})
      for (int stages : {0, 1, 3, 4}) {
        auto w = random_f16(size_t(n * k), uint32_t(n + k), 0.1f);
        std::vector<float> wf(w.size());
        for (size_t i = 0; i < w.size(); ++i) wf[i] = h2f(w[i]);
        Buffer wg = gpu.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
        Buffer wc = cpu.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
        for (int64_t m : {1, 17, 64, 130}) {
          auto x = random_f16(size_t(m * k), uint32_t(m));
          const GemmOptions o{.path = GemmPath::CoopMatrix, .out = DType::F32, .stages = stages};
          auto ref = as_float(cpu, cpu.gemm_f16(cpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2), wc, {},
                                                {.out = DType::F32}));
          auto got = as_float(gpu, gpu.gemm_f16(gpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2), wg, {}, o));
          auto e = test::exact_gemm(x, m, k, n, [&](int64_t j, float* row) { std::copy_n(&wf[size_t(j * k)], k, row); });
          expect_both_within_bound(gpu, got, cpu, ref, e, o, m, false, k, 0,
                                   std::string(variant) + " f16 N=" + std::to_string(n) + " K=" + std::to_string(k) +
                                       " M=" + std::to_string(m) + " stages " + std::to_string(stages));
        }
      }
    EXPECT_EQ(gpu.choose_gemm_path(64), GemmPath::CoopMatrix)
        << variant << ": the variant failed its first-use check on " << gpu.device_info().name << " (see the log)";
    lowbit::test::expect_clean(gpu);
  }
  if (ran.empty()) GTEST_SKIP() << "no cooperative-matrix variant on this device:" << why_not;
  std::printf("[lowbit tests] cooperative-matrix variants checked:%s%s\n", ran.c_str(),
              why_not.empty() ? "" : (" (" + why_not + ")").c_str());
}

// Each variant's K-pipeline depths (1 serial .. 4; KHR and NV are builds of one source) multiply the same
// fragments in the same order: bit-identical results, and the launch reports the kernel and the depth that
// ran. GPUs with cooperative matrices only (skipped here).
TEST(GemmVulkanCoopMatrix, PipelineDepthsAreBitIdentical) {
  std::string ran;
  for (auto [off, kernel] : {std::pair<const char*, const char*>{"LOWBIT_VK_NO_COOPMAT_NV", "gemm_coopmat_khr"},
                             {"LOWBIT_VK_NO_COOPMAT_KHR", "gemm_coopmat"}}) {
    Context gpu;
    std::string why;
    if (!vulkan_context_with(gpu, why, off, "1")) GTEST_SKIP() << why;
    if (gpu.choose_gemm_path(64) != GemmPath::CoopMatrix) continue;
    ran += std::string(" ") + kernel;
    std::mt19937 rng(13);
    std::normal_distribution<float> nd(0.0f, 0.05f);
    const int64_t m = 130, n = 200, k = 1000;  // 32 K steps, a partial last one; 3 x 4 tiles
    std::vector<float> wt(size_t(n * k));
    for (auto& v : wt) v = nd(rng);
    W4Layer l = gpu.upload_w4(quantize_w4_rtn(wt.data(), n, k, 40, false), {});
    auto x = random_f16(size_t(m * k), 21);
    Buffer xg = gpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
    GemmOptions o{.path = GemmPath::CoopMatrix, .out = DType::F32, .split_k = 1, .stages = 1};
    const auto serial = gpu.download<uint32_t>(gpu.gemm_w4a16(xg, l, o));
    ASSERT_EQ(gpu.last_gemm_launch().stages, 1u);
    for (int stages : {2, 3, 4}) {
      o.stages = stages;
      EXPECT_EQ(gpu.download<uint32_t>(gpu.gemm_w4a16(xg, l, o)), serial) << kernel << " stages " << stages;
      EXPECT_EQ(gpu.last_gemm_launch().stages, uint32_t(stages)) << kernel;
      EXPECT_EQ(std::string(gpu.last_gemm_launch().kernel), kernel);
    }
    lowbit::test::expect_clean(gpu);
  }
  if (ran.empty()) GTEST_SKIP() << "no cooperative-matrix variant on this device";
  std::printf("[lowbit tests] cooperative-matrix pipeline depths checked:%s\n", ran.c_str());
}
