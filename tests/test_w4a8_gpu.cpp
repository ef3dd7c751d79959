// test_w4a8_gpu.cpp — gemm_w4a8 (int8 activations x QoQ weights): the SWAR int8 dequantization and the
// portable dot product exhaustively against plain integer math; the CPU reference against an independent
// evaluation (exact int64 accumulator from QoqHost::w8, then the epilogue); every GPU backend against the CPU
// reference BIT-EXACT (the int32 accumulators are exact and the epilogue is shared) over the W4A16 odd
// shapes, groups 32/64/128, per-channel and groups that straddle weight words, M = 1..16 (GEMV) and
// 17..130 (tiled), split-K on and off, fp16/fp32 bias and output, with and without integer dot-product
// instructions ($LOWBIT_NO_INT_DOT); a NaN activation scale gives a NaN output row.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <tuple>

#include "backend/w4a8_plan.hpp"
#include "lowbit_formats.h"
#include "support/backends.hpp"
#include "support/scoped_env.hpp"

using namespace lowbit;

namespace {

float h2f(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }
uint16_t f2h(float f) { return uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(f))); }

// A valid QoQ layer (validate_qoq accepts it): per group and column a random s2 in 1..16 and z in 0..15,
// codes drawn among those with |(u - z) * s2| <= 127; group -1 = per channel. Rows past K hold z.
QoqHost random_qoq(int64_t n, int64_t k, int group, uint32_t seed) {
  std::mt19937 rng(seed);
  QoqHost h;
  h.n = n, h.k = k;
  h.per_channel = group < 0;
  h.group = h.per_channel ? int(k) : group;
  if (!h.per_channel) {
    h.s2.resize(size_t(h.groups() * n));
    h.zeros.resize(h.s2.size());
    for (size_t i = 0; i < h.s2.size(); ++i) h.s2[i] = uint8_t(1 + rng() % 16), h.zeros[i] = uint8_t(rng() % 16);
  }
  h.qweight.assign(size_t(h.k_words() * n), 0u);
  for (int64_t kk = 0; kk < h.k_words() * 8; ++kk)
    for (int64_t c = 0; c < n; ++c) {
      int64_t g = std::min<int64_t>(kk / h.group, h.groups() - 1);
      int s2 = int(h.scale2(c, g)), z = int(h.zero(c, g));
      uint32_t u = uint32_t(z);
      if (kk < k) {
        std::vector<uint32_t> allowed;
        for (int v = 0; v < 16; ++v)
          if (std::abs((v - z) * s2) <= 127) allowed.push_back(uint32_t(v));
        u = allowed[rng() % allowed.size()];
      }
      h.qweight[size_t((kk / 8) * n + c)] |= u << (4 * qoq_nibble(int(kk % 8)));
    }
  std::uniform_real_distribution<float> sd(0.001f, 0.02f);
  for (int64_t c = 0; c < n; ++c) h.s1.push_back(f2h(sd(rng)));
  validate_qoq(h);
  return h;
}

struct HostAct {
  int64_t m = 0, k = 0;
  std::vector<int8_t> codes;
  std::vector<float> scales;
};

HostAct random_act(int64_t m, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  HostAct a{m, k, std::vector<int8_t>(size_t(m * k)), std::vector<float>(size_t(m))};
  for (auto& c : a.codes) c = int8_t(int(rng() % 255) - 127);
  for (int64_t i = 0; i < k && m > 0; ++i) a.codes[size_t(i)] = (i % 2) ? 127 : -127;  // row 0: extremes
  std::uniform_real_distribution<float> sd(0.005f, 0.05f);
  for (auto& s : a.scales) s = sd(rng);
  return a;
}

// The activations on a context, as quantize_activations_int8 would leave them (sums = Σ_k q).
ActInt8 upload_act(Context& c, const HostAct& a) {
  std::vector<int32_t> sums(size_t(a.m), 0);
  for (int64_t i = 0; i < a.m; ++i)
    for (int64_t j = 0; j < a.k; ++j) sums[size_t(i)] += a.codes[size_t(i * a.k + j)];
  return {c.upload(DType::I8, {a.m, a.k}, a.codes.data(), a.codes.size()),
          c.upload(DType::F32, {a.m}, a.scales.data(), a.scales.size() * 4),
          c.upload(DType::I32, {a.m}, sums.data(), sums.size() * 4)};
}

enum class BiasKind { None, F16, F32 };

std::vector<float> bias_values(int64_t n) {
  std::vector<float> b(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) b[size_t(i)] = h2f(f2h(0.25f * float((i * 37) % 17) - 2.0f));
  return b;
}

W4A8Layer upload_layer(Context& c, const QoqHost& h, BiasKind bias) {
  std::vector<float> b = bias_values(h.n);
  if (bias == BiasKind::F16) {
    std::vector<uint16_t> bh;
    for (float v : b) bh.push_back(f2h(v));
    return c.upload_qoq(h, bh);
  }
  W4A8Layer l = c.upload_qoq(h);
  if (bias == BiasKind::F32) l.bias = c.upload(DType::F32, {h.n}, b.data(), b.size() * 4);
  return l;
}

// The raw output bits (fp16 or fp32) of y.
std::vector<uint32_t> bits(Context& c, const Buffer& y) {
  std::vector<uint32_t> out;
  if (y.dtype() == DType::F32) {
    for (float f : c.download<float>(y)) out.push_back(std::bit_cast<uint32_t>(f));
  } else {
    for (uint16_t h : c.download<uint16_t>(y)) out.push_back(h);
  }
  return out;
}

void expect_same_bits(const std::vector<uint32_t>& got, const std::vector<uint32_t>& ref, int64_t n, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != ref[i]) {
      ADD_FAILURE() << what << ": first difference at (m " << i / size_t(n) << ", n " << i % size_t(n) << "): 0x"
                    << std::hex << got[i] << " vs the CPU's 0x" << ref[i];
      return;
    }
}

}  // namespace

// lb_qoq_w8x4 against (u - z) * s2 for every s2 (1..16), z (0..15) and every 4-lane combination of the codes
// QoQ allows with them (|(u - z) * s2| <= 127); lb_dot4_i8 against plain products.
TEST(QoqSwar, EveryAllowedCodeZeroAndScale) {
  uint64_t checked = 0;
  for (uint32_t s2 = 1; s2 <= 16; ++s2)
    for (uint32_t z = 0; z <= 15; ++z) {
      std::vector<uint32_t> ok;
      for (uint32_t u = 0; u < 16; ++u)
        if (std::abs((int(u) - int(z)) * int(s2)) <= 127) ok.push_back(u);
      for (uint32_t a : ok)
        for (uint32_t b : ok)
          for (uint32_t c : ok)
            for (uint32_t d : ok) {
              uint32_t codes = a | b << 8 | c << 16 | d << 24;
              uint32_t w = fmt::lb_qoq_w8x4(codes, s2, z);
              uint32_t lane[4] = {a, b, c, d};
              for (uint32_t i = 0; i < 4; ++i)
                if (fmt::lb_i8_lane(w, i) != (int(lane[i]) - int(z)) * int(s2)) {
                  FAIL() << "s2 " << s2 << " z " << z << " codes 0x" << std::hex << codes << " lane " << i;
                }
              ++checked;
            }
    }
  EXPECT_GT(checked, 1000000u);
  std::mt19937 rng(3);
  for (int i = 0; i < 200000; ++i) {
    uint32_t a = rng(), b = i < 4 ? 0x81818181u * uint32_t(i & 1) + 0x7F7F7F7Fu * uint32_t(i >> 1) : rng();
    int want = 0;
    for (int l = 0; l < 4; ++l) want += int(int8_t(a >> (8 * l))) * int(int8_t(b >> (8 * l)));
    ASSERT_EQ(fmt::lb_dot4_i8(a, b), want) << std::hex << a << " " << b;
  }
}

// The CPU reference against an independent evaluation: the exact accumulator in int64 from QoqHost::w8, the
// epilogue written out in fp32 ((acc * a_scale) * s1 + bias, each rounded), and close to the fp64 product.
TEST(W4A8Reference, CpuMatchesIndependentEvaluation) {
  Context cpu = Context::create({.backend = Backend::CPU});
  for (auto [n, k, group] : {std::tuple{40, 256, 128}, {33, 96, 32}, {17, 100, -1}, {24, 36, 12}}) {
    QoqHost h = random_qoq(n, k, group, uint32_t(n * 31 + k));
    HostAct a = random_act(5, k, uint32_t(k));
    std::vector<float> b = bias_values(n);
    std::vector<uint16_t> bh;
    for (float v : b) bh.push_back(f2h(v));
    W4A8Layer l = cpu.upload_qoq(h, bh);
    auto y = cpu.download<float>(cpu.gemm_w4a8(upload_act(cpu, a), l, {.out = DType::F32}));
    for (int64_t m = 0; m < a.m; ++m)
      for (int64_t c = 0; c < n; ++c) {
        int64_t acc = 0;
        for (int64_t j = 0; j < k; ++j) acc += int64_t(a.codes[size_t(m * k + j)]) * h.w8(c, j);
        ASSERT_LT(std::llabs(acc), int64_t(1) << 31);
        float s1 = h2f(h.s1[size_t(c)]);
        volatile float r = float(acc) * a.scales[size_t(m)];
        volatile float o = r * s1;
        float want = o + b[size_t(c)];
        float got = y[size_t(m * n + c)];
        ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << "m " << m << " n " << c << " k " << k;
        double exact = double(acc) * double(a.scales[size_t(m)]) * double(s1) + double(b[size_t(c)]);
        ASSERT_LE(std::abs(double(got) - exact), 3 * std::ldexp(std::abs(exact) + std::abs(double(o)), -24) + 1e-30);
      }
  }
}

// The launch plan both GPU backends share: GEMV slices whole words, the tiled workgroup matches its tile and
// fits the shared memory, a GPU with idle compute units gets split-K, straddling groups are detected.
TEST(W4A8Plan, GeometryFollowsDeviceAndShape) {
  detail::DeviceProfile cpu{.cpu = true, .compute_units = 2, .max_workgroup = 256, .shared_bytes = 32768, .threads = 2};
  detail::DeviceProfile h100{.cpu = false, .compute_units = 132, .max_workgroup = 1024, .shared_bytes = 49152};
  for (const auto& d : {cpu, h100}) {
    for (int64_t m : {1, 5, 16}) {
      detail::W4A8Plan g = detail::plan_w4a8(d, true, uint64_t(m), 4096, 4096, 128, 0);
      EXPECT_EQ(g.k_split % 8, 0u);
      EXPECT_EQ(uint64_t(g.k_split) * g.splits >= 4096 && uint64_t(g.k_split) * (g.splits - 1) < 4096, true);
      EXPECT_GE(g.g.mt, uint32_t(m));
      EXPECT_LE(g.shared_bytes(), d.shared_bytes);
    }
    for (int64_t m : {17, 64, 256}) {
      detail::W4A8Plan t = detail::plan_w4a8(d, false, uint64_t(m), 4096, 4096, 128, 0);
      EXPECT_EQ(t.wg(), (t.t.bm / t.t.tm) * (t.t.bn / t.t.tn));
      EXPECT_LE(t.shared_bytes(), d.shared_bytes);
      EXPECT_EQ(t.k_split % detail::kW4A8TiledBk, 0u);
    }
  }
  EXPECT_GT(detail::plan_w4a8(h100, false, 64, 4096, 4096, 128, 0).splits, 1u);  // 32 tiles for 132 SMs
  EXPECT_EQ(detail::plan_w4a8(cpu, false, 64, 4096, 4096, 128, 0).splits, 1u);
  EXPECT_EQ(detail::plan_w4a8(cpu, false, 64, 4096, 4096, 128, 3).splits, 3u);
  EXPECT_TRUE(detail::plan_w4a8(cpu, true, 1, 64, 120, 12, 0).any_group);
  EXPECT_FALSE(detail::plan_w4a8(cpu, true, 1, 64, 100, 100, 0).any_group);  // one group: nothing straddles
  EXPECT_FALSE(detail::plan_w4a8(cpu, true, 1, 64, 256, 32, 0).any_group);
}

// Parameters: the backend, and whether integer dot-product instructions may be used ($LOWBIT_NO_INT_DOT, read
// when a Context is created). lavapipe compiles a pipeline at its first dispatch, which on a busy machine can
// outlast the default 120 s wait: the contexts wait up to 900 s.
class W4A8Backends : public ::testing::TestWithParam<std::tuple<Backend, bool>> {
 protected:
  Backend backend_ = std::get<0>(GetParam());
  bool int_dot_ = std::get<1>(GetParam());
  test::ScopedEnv no_int_dot_{"LOWBIT_NO_INT_DOT", int_dot_ ? "0" : "1"};
  test::ScopedEnv slow_compile_{"LOWBIT_VK_TIMEOUT_MS", "900000"};
  Context cpu_ = Context::create({.backend = Backend::CPU});
};

// Every shape, M, group, split-K, bias and output type on the GPU backend, bit-exact against the CPU.
TEST_P(W4A8Backends, BitExactAgainstCpuOverOddShapes) {
  const bool int_dot = int_dot_;
  Context& cpu = cpu_;
  LOWBIT_CONTEXT_OR_SKIP(gpu, backend_);
  const bool dot_used = int_dot && gpu.device_info().integer_dot_product;
  if (!int_dot) {
    EXPECT_FALSE(gpu.device_info().integer_dot_product) << "LOWBIT_NO_INT_DOT=1 leaves it off";
  } else if (!dot_used) {
    std::printf("[ note ] %s has no integer dot-product instructions: the portable path runs twice\n",
                gpu.device_info().name.c_str());
  }
  struct Case {
    int64_t n, k;
    int group;
  };
  // N no multiple of any tile or column count; K a multiple of the group, not of the GEMV chunk (256); a
  // per-channel K that is no multiple of 8; a group of 12 (words straddle groups).
  const Case cases[] = {{200, 384, 128}, {72, 320, 64}, {96, 160, 32}, {131, 100, -1}, {40, 120, 12}};
  struct Opts {
    DType out;
    BiasKind bias;
    int split_k;
  };
  const Opts opts[] = {{DType::F16, BiasKind::None, 0}, {DType::F32, BiasKind::F16, 1}, {DType::F32, BiasKind::F32, 3},
                       {DType::F16, BiasKind::F32, 2}};
  std::vector<int64_t> ms;
  for (int64_t m = 1; m <= 16; ++m) ms.push_back(m);
  for (int64_t m : {17, 33, 64, 130}) ms.push_back(m);
  int ci = 0;
  for (const Case& c : cases) {
    QoqHost h = random_qoq(c.n, c.k, c.group, uint32_t(c.n + c.k));
    for (size_t oi = 0; oi < std::size(opts); ++oi) {
      const Opts& o = opts[oi];
      W4A8Layer lg = upload_layer(gpu, h, o.bias), lc = upload_layer(cpu, h, o.bias);
      for (size_t mi = 0; mi < ms.size(); ++mi) {
        if ((mi + oi + size_t(ci)) % 2 && ms[mi] <= 16 && ms[mi] != 1 && ms[mi] != 16) continue;  // half the GEMV Ms per option
        int64_t m = ms[mi];
        HostAct a = random_act(m, c.k, uint32_t(m * 101 + c.k + oi));
        GemmOptions go{.out = o.out, .split_k = o.split_k};
        std::string what = "N " + std::to_string(c.n) + " K " + std::to_string(c.k) + " group " + std::to_string(c.group) +
                           " M " + std::to_string(m) + " option set " + std::to_string(oi);
        auto ref = bits(cpu, cpu.gemm_w4a8(upload_act(cpu, a), lc, {.out = o.out}));
        auto got = bits(gpu, gpu.gemm_w4a8(upload_act(gpu, a), lg, go));
        GemmLaunch launch = gpu.last_gemm_launch();
        EXPECT_EQ(launch.kernel.find("_dot") != std::string::npos, dot_used) << launch.kernel;
        EXPECT_EQ(launch.kernel.find(m <= 16 ? "gemv" : "tiled") != std::string::npos, true) << launch.kernel << " " << what;
        if (o.split_k == 1) {
          EXPECT_EQ(launch.split_k, 1u) << what;
        } else if (o.split_k > 1) {
          EXPECT_GT(launch.split_k, 1u) << what;
        }
        expect_same_bits(got, ref, c.n, what);
      }
    }
    ++ci;
  }
  test::expect_clean(gpu);
}

// A row whose activation scale is NaN (a NaN/inf input row) gives a NaN output row on every backend; the
// other rows are untouched and bit-exact.
TEST_P(W4A8Backends, NanActivationScaleGivesNanRow) {
  Context& cpu = cpu_;
  LOWBIT_CONTEXT_OR_SKIP(gpu, backend_);
  QoqHost h = random_qoq(48, 256, 128, 9);
  for (int64_t m : {3, 40}) {
    for (DType out : {DType::F16, DType::F32}) {
      HostAct a = random_act(m, h.k, 5);
      a.scales[1] = std::nanf("");
      W4A8Layer lg = upload_layer(gpu, h, BiasKind::F16), lc = upload_layer(cpu, h, BiasKind::F16);
      auto ref = bits(cpu, cpu.gemm_w4a8(upload_act(cpu, a), lc, {.out = out}));
      auto got = bits(gpu, gpu.gemm_w4a8(upload_act(gpu, a), lg, {.out = out}));
      expect_same_bits(got, ref, h.n, "M " + std::to_string(m));
      for (int64_t r = 0; r < m; ++r)
        for (int64_t c = 0; c < h.n; ++c) {
          uint32_t v = got[size_t(r * h.n + c)];
          bool nan = out == DType::F32 ? std::isnan(std::bit_cast<float>(v)) : std::isnan(h2f(uint16_t(v)));
          ASSERT_EQ(nan, r == 1) << "row " << r << " column " << c;
        }
    }
  }
  test::expect_clean(gpu);
}

INSTANTIATE_TEST_SUITE_P(Gpu, W4A8Backends,
                         ::testing::Combine(::testing::ValuesIn(lowbit::test::gpu_backends()), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) ? "_IntDot" : "_Portable");
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(W4A8Backends);
