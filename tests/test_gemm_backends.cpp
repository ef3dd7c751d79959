// test_gemm_backends.cpp — gemm_w4a16 and gemm_f16 on every GPU backend against the CPU reference:
// M in {1,2,3,7,8,15,16,17,33,64,128}, K and N that are no multiple of any tile, every group size,
// symmetric and asymmetric, with and without act_order, both paths, split-K, fp16 and fp32 output.
// Tolerance: fp32 accumulation in another order (K * 2^-23 * sum|x*w|) plus fp16 output rounding.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "lowbit_formats.h"
#include "support/backends.hpp"
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

// |gpu - cpu| <= K * 2^-23 * sum|x w| (+ one fp16 ulp of the result for fp16 output)
void expect_close(const std::vector<float>& got, const std::vector<float>& ref, const std::vector<uint16_t>& x,
                  const std::vector<float>& w /*[n,k]*/, int64_t m, int64_t n, int64_t k, bool out16,
                  const std::string& what) {
  size_t bad = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double mag = 0;
      for (int64_t c = 0; c < k; ++c) mag += std::fabs(double(h2f(x[size_t(i * k + c)])) * w[size_t(j * k + c)]);
      double r = ref[size_t(i * n + j)];
      double tol = double(k) * std::ldexp(1.0, -23) * mag + (out16 ? std::ldexp(std::fabs(r), -10) : 0.0) + 1e-6;
      double g = got[size_t(i * n + j)];
      if (!(std::fabs(g - r) <= tol) && ++bad <= 3)
        ADD_FAILURE() << what << ": y[" << i << "," << j << "] = " << g << ", cpu " << r << " (tol " << tol << ")";
    }
  EXPECT_EQ(bad, 0u) << what;
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
  auto w = dequantize_w4(h);
  for (int64_t m : kMs) {
    if (o.path == GemmPath::Gemv && m > 16) continue;  // the GEMV path is for M <= 16
    auto x = random_f16(size_t(m * h.k), uint32_t(m * 7 + h.k));
    Buffer xg = gpu.upload(DType::F16, {m, h.k}, x.data(), x.size() * 2);
    Buffer xc = cpu.upload(DType::F16, {m, h.k}, x.data(), x.size() * 2);
    GemmOptions oc = o;
    oc.path = GemmPath::Auto;
    auto ref = as_float(cpu, cpu.gemm_w4a16(xc, lc, oc));
    auto got = as_float(gpu, gpu.gemm_w4a16(xg, lg, o));
    expect_close(got, ref, x, w, m, h.n, h.k, o.out == DType::F16, what + " M=" + std::to_string(m));
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

TEST_P(GemmBackends, W4ActOrderFromGptq) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  for (int group : {32, 128}) {
    auto known = test::make_known(40, 256, group, true, 1, 16, 77);
    std::vector<int32_t> qw, qz;
    test::write_gptq(known, 1, qw, qz);
    W4Host h = import_gptq({qw.data(), qz.data(), known.scale.data(), known.g_idx.data(), 256, 40, group, 1, false});
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
        expect_close(got, ref, x, wf, m, n, k, false,
                     "f16 " + std::string(to_string(p)) + " N=" + std::to_string(n) + " K=" + std::to_string(k) +
                         " M=" + std::to_string(m));
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
  auto w = dequantize_w4(h);
  for (int64_t m : {1, 7, 33})
    for (GemmPath p : {GemmPath::Gemv, GemmPath::Tiled}) {
      if (p == GemmPath::Gemv && m > 16) continue;
      auto x = random_f16(size_t(m * k), uint32_t(m + 11));
      Buffer xg = gpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
      Buffer xc = cpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
      for (DType out : {DType::F32, DType::F16}) {
        auto ref = as_float(cpu, cpu.gemm_w4a16(xc, lc, {.out = out}));
        auto got = as_float(gpu, gpu.gemm_w4a16(xg, lg, {.path = p, .out = out}));
        expect_close(got, ref, x, w, m, n, k, out == DType::F16,
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

// A layer straight from random codes (no RTN pass), for sizes where quantizing floats would be slow.
W4Host random_layer(int64_t n, int64_t k, int group, uint32_t seed) {
  std::mt19937 rng(seed);
  W4Host h;
  h.n = n, h.k = k, h.group = group, h.sym = true;
  h.qweight.resize(size_t(h.k_words() * n));
  for (auto& w : h.qweight) w = rng();
  h.scales.resize(size_t(h.groups() * n));
  for (auto& s : h.scales) s = uint16_t(0x1C00 + rng() % 0x400);  // ~2^-8 .. 2^-7
  return h;
}
}  // namespace

// int4 weights of more than 128 MiB (lavapipe's storage-binding limit) are bound in K windows.
TEST_P(GemmBackends, W4WeightsLargerThanOneStorageBinding) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  W4Host h = random_layer(8192, 33792, 128, 4);  // 138 MB of qweight
  ASSERT_GT(h.qweight.size() * 4, size_t(128) << 20);
  W4Layer lg = gpu.upload_w4(h), lc = cpu.upload_w4(h);
  auto w = dequantize_w4(h);
  for (int64_t m : {1, 3}) {
    auto x = random_f16(size_t(m * h.k), uint32_t(m));
    Buffer xg = gpu.upload(DType::F16, {m, h.k}, x.data(), x.size() * 2);
    Buffer xc = cpu.upload(DType::F16, {m, h.k}, x.data(), x.size() * 2);
    auto ref = as_float(cpu, cpu.gemm_w4a16(xc, lc, {.out = DType::F32}));
    auto got = as_float(gpu, gpu.gemm_w4a16(xg, lg, {.out = DType::F32}));
    expect_close(got, ref, x, w, m, h.n, h.k, false, "138 MB layer M=" + std::to_string(m));
  }
  lowbit::test::expect_clean(gpu);
}

// The same windowing on small shapes: the Vulkan binding range lowered to 64 KiB, both weight types,
// both paths.
TEST(GemmVulkanWindows, WeightsSplitAcrossBindingsWithLoweredRange) {
  Context gpu;
  std::string why;
  if (!vulkan_context_with(gpu, why, "LOWBIT_VK_MAX_RANGE", "65536")) GTEST_SKIP() << why;
  Context cpu = Context::create({.backend = Backend::CPU});
  W4Host h = random_layer(264, 1024, 64, 9);  // 135 KiB of qweight
  auto w = dequantize_w4(h);
  W4Layer lg = gpu.upload_w4(h), lc = cpu.upload_w4(h);
  auto wf16 = random_f16(size_t(264 * 1024), 3, 0.05f);  // 528 KiB of fp16 weights
  std::vector<float> wf(wf16.size());
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = h2f(wf16[i]);
  Buffer wg = gpu.upload(DType::F16, {264, 1024}, wf16.data(), wf16.size() * 2);
  Buffer wc = cpu.upload(DType::F16, {264, 1024}, wf16.data(), wf16.size() * 2);
  for (int64_t m : {1, 5, 20})
    for (GemmPath p : {GemmPath::Gemv, GemmPath::Tiled}) {
      if (p == GemmPath::Gemv && m > 16) continue;
      auto x = random_f16(size_t(m * 1024), uint32_t(m));
      Buffer xg = gpu.upload(DType::F16, {m, 1024}, x.data(), x.size() * 2);
      Buffer xc = cpu.upload(DType::F16, {m, 1024}, x.data(), x.size() * 2);
      std::string what = std::string(to_string(p)) + " M=" + std::to_string(m);
      expect_close(as_float(gpu, gpu.gemm_w4a16(xg, lg, {.path = p, .out = DType::F32})),
                   as_float(cpu, cpu.gemm_w4a16(xc, lc, {.out = DType::F32})), x, w, m, 264, 1024, false, "w4 " + what);
      expect_close(as_float(gpu, gpu.gemm_f16(xg, wg, {}, {.path = p, .out = DType::F32})),
                   as_float(cpu, cpu.gemm_f16(xc, wc, {}, {.out = DType::F32})), x, wf, m, 264, 1024, false, "f16 " + what);
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
  }
  lowbit::test::expect_clean(gpu);
}
