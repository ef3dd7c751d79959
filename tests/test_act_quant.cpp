// test_act_quant.cpp — quantize_activations_int8: the CPU reference against plain float math (codes, scales,
// sums, all-zero / NaN / inf rows), the correctly rounded 1/sqrt of lowbit_formats.h, and every GPU backend
// against the CPU bit for bit (odd K, huge / tiny / subnormal values, fp16 and fp32, with and without the
// fused RMSNorm); bad arguments are InvalidArgument errors.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "lowbit_formats.h"
#include "support/backends.hpp"

using namespace lowbit;

namespace {

struct ActResult {
  std::vector<int8_t> codes;
  std::vector<uint32_t> scales;  // fp32 bits
  std::vector<int32_t> sums;
};

ActResult run(Context& ctx, const Buffer& x, const ActQuantOptions& o = {}) {
  ActInt8 a = ctx.quantize_activations_int8(x, o);
  return {ctx.download<int8_t>(a.codes), ctx.download<uint32_t>(a.scales), ctx.download<int32_t>(a.sums)};
}

Buffer upload_f32(Context& ctx, const std::vector<float>& v, Shape s) {
  return ctx.upload(DType::F32, std::move(s), v.data(), v.size() * 4);
}
Buffer upload_as_f16(Context& ctx, const std::vector<float>& v, Shape s) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(v[i])));
  return ctx.upload(DType::F16, std::move(s), h.data(), h.size() * 2);
}

// Rows of K values of one kind each: the kinds every test runs over.
std::vector<float> test_rows(int64_t k, int rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::uniform_int_distribution<int> pick(0, int(k) - 1);
  std::vector<float> v(size_t(k) * rows);
  const float fmax = std::numeric_limits<float>::max(), tiny = std::numeric_limits<float>::denorm_min();
  for (int r = 0; r < rows; ++r) {
    float* x = &v[size_t(r) * k];
    int kind = r % 12;
    for (int64_t i = 0; i < k; ++i) {
      float g = nd(rng);
      switch (kind) {
        case 0: x[i] = g; break;                                            // ordinary
        case 1: x[i] = g * g * g * 3.0f; break;                             // heavy tails
        case 2: x[i] = 0.0f; break;                                         // all zero
        case 3: x[i] = g * 1e30f; break;                                    // huge (squares overflow fp32)
        case 4: x[i] = g * 1e-40f; break;                                   // subnormal
        case 5: x[i] = (i % 3 == 0) ? g * 1e20f : g * 1e-30f; break;        // huge and tiny mixed
        case 6: x[i] = (i % 2) ? fmax : -fmax; break;                       // ±FLT_MAX
        case 7: x[i] = (i % 5 == 0) ? tiny : 0.0f; break;                   // the smallest subnormal
        case 8: x[i] = std::ldexp(float(int(i % 255) - 127), -1); break;   // ties of x / scale
        default: x[i] = g * 10.0f; break;
      }
    }
    if (kind == 9) x[pick(rng)] = NAN;
    if (kind == 10) x[pick(rng)] = INFINITY;
    if (kind == 11) x[pick(rng)] = -INFINITY;
  }
  return v;
}

// The reference semantics in plain float math: scale = absmax / 127 (correctly rounded), q = rint(x / scale).
void expect_plain_semantics(const std::vector<float>& x, int64_t k, const ActResult& r) {
  for (size_t row = 0; row < r.scales.size(); ++row) {
    const float* xr = &x[row * k];
    float amax = 0.0f;
    bool finite = true;
    for (int64_t i = 0; i < k; ++i) finite = finite && std::isfinite(xr[i]), amax = std::max(amax, std::fabs(xr[i]));
    float scale = std::bit_cast<float>(r.scales[row]);
    int32_t sum = 0;
    if (!finite) {
      EXPECT_TRUE(std::isnan(scale)) << "row " << row;
    } else if (amax == 0.0f) {
      EXPECT_EQ(scale, 1.0f) << "row " << row;
    } else {
      EXPECT_EQ(scale, std::max(float(double(amax) / 127.0), std::numeric_limits<float>::min())) << "row " << row;
    }
    for (int64_t i = 0; i < k; ++i) {
      int want = 0;
      if (finite && amax != 0.0f) want = int(std::clamp(std::nearbyint(xr[i] / scale), -127.0f, 127.0f));
      ASSERT_EQ(r.codes[row * k + i], want) << "row " << row << " k " << i << " x " << xr[i];
      sum += want;
    }
    EXPECT_EQ(r.sums[row], sum) << "row " << row;
  }
}

TEST(ActQuantCpu, CodesScalesAndSumsFollowThePlainDefinition) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, Backend::CPU);
  for (int64_t k : {1, 7, 100, 257}) {
    std::vector<float> x = test_rows(k, 12, uint32_t(k));
    expect_plain_semantics(x, k, run(ctx, upload_f32(ctx, x, {12, k})));
  }
}

TEST(ActQuantCpu, RsqrtIsCorrectlyRounded) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> bits(1u, 0x7F7FFFFFu);
  std::vector<uint32_t> vs = {0x3F800000u, 0x40800000u, 0x40000000u, 0x00000001u, 0x00800000u, 0x7F7FFFFFu, 0x4B800000u};
  for (int i = 0; i < 300000; ++i) vs.push_back(bits(rng));
  for (uint32_t v : vs) {
    long double want = 1.0L / std::sqrt((long double)std::bit_cast<float>(v));
    ASSERT_EQ(fmt::lb_rsqrt_f32(v), std::bit_cast<uint32_t>(float(want))) << "v bits 0x" << std::hex << v;
  }
}

// RMSNorm against a double-precision reference: the normalised values agree to a few fp32 ulps, so codes
// differ by at most one step and scales by a few ulps.
TEST(ActQuantCpu, RmsNormMatchesDoublePrecision) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, Backend::CPU);
  const int64_t k = 300;
  const int rows = 9;  // ordinary, heavy tails, zero, huge, subnormal, mixed, FLT_MAX, tiny, ties
  std::vector<float> x = test_rows(k, rows, 3), w(static_cast<size_t>(k));
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> wd(0.5f, 2.0f);
  for (auto& v : w) v = wd(rng);
  const float eps = 1e-6f;
  ActResult r = run(ctx, upload_f32(ctx, x, {rows, k}), {.rms_weight = upload_f32(ctx, w, {k}), .eps = eps});
  for (int row = 0; row < rows; ++row) {
    const float* xr = &x[size_t(row) * k];
    double ss = 0;
    for (int64_t i = 0; i < k; ++i) ss += double(xr[i]) * xr[i];
    double rr = 1.0 / std::sqrt(ss / double(k) + eps);
    std::vector<double> y(static_cast<size_t>(k));
    double amax = 0;
    for (int64_t i = 0; i < k; ++i) y[size_t(i)] = xr[i] * rr * w[size_t(i)], amax = std::max(amax, std::fabs(y[size_t(i)]));
    float scale = std::bit_cast<float>(r.scales[size_t(row)]);
    if (amax == 0) {
      EXPECT_EQ(scale, 1.0f) << "row " << row;
      continue;
    }
    const double want_scale = std::max(amax / 127.0, double(std::numeric_limits<float>::min()));
    EXPECT_NEAR(scale, want_scale, want_scale * 1e-5) << "row " << row;
    for (int64_t i = 0; i < k; ++i)
      ASSERT_LE(std::fabs(r.codes[size_t(row * k + i)] - y[size_t(i)] / scale), 0.5 + 1e-3)
          << "row " << row << " k " << i;
  }
}

TEST(ActQuantCpu, BadArgumentsAreInvalidArgument) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, Backend::CPU);
  std::vector<float> x(12, 1.0f);
  Buffer xf = upload_f32(ctx, x, {3, 4});
  auto code_of = [&](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::Internal;
  };
  std::vector<int32_t> xi(12, 1);
  EXPECT_EQ(code_of([&] { ctx.quantize_activations_int8(ctx.upload(DType::I32, {3, 4}, xi.data(), 48)); }),
            ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { ctx.quantize_activations_int8(upload_f32(ctx, x, {12})); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { ctx.quantize_activations_int8(xf, {.rms_weight = upload_f32(ctx, {1, 1, 1}, {3})}); }),
            ErrorCode::InvalidArgument);
  for (float eps : {-1.0f, NAN, INFINITY})
    EXPECT_EQ(code_of([&] { ctx.quantize_activations_int8(xf, {.rms_weight = upload_f32(ctx, {1, 1, 1, 1}, {4}), .eps = eps}); }),
              ErrorCode::InvalidArgument);
}

class ActQuantBackends : public ::testing::TestWithParam<Backend> {};

void expect_same(const ActResult& g, const ActResult& c, const std::string& what) {
  ASSERT_EQ(g.scales.size(), c.scales.size());
  for (size_t i = 0; i < c.scales.size(); ++i) {
    ASSERT_EQ(g.scales[i], c.scales[i]) << what << ": scale of row " << i;
    ASSERT_EQ(g.sums[i], c.sums[i]) << what << ": sum of row " << i;
  }
  ASSERT_EQ(g.codes.size(), c.codes.size());
  for (size_t i = 0; i < c.codes.size(); ++i) ASSERT_EQ(g.codes[i], c.codes[i]) << what << ": code " << i;
}

TEST_P(ActQuantBackends, BitIdenticalToCpu) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  LOWBIT_CONTEXT_OR_SKIP(cpu, Backend::CPU);
  const int rows = 12;
  for (int64_t k : {1, 3, 7, 100, 255, 256, 257, 1000, 4099}) {
    std::vector<float> x = test_rows(k, rows, uint32_t(7 * k)), w(static_cast<size_t>(k));
    std::mt19937 rng(static_cast<uint32_t>(k));
    std::normal_distribution<float> nd(1.0f, 0.5f);
    for (auto& v : w) v = nd(rng);
    for (bool f32 : {true, false}) {
      auto up = [&](Context& c, const std::vector<float>& v, Shape s) {
        return f32 ? upload_f32(c, v, std::move(s)) : upload_as_f16(c, v, std::move(s));
      };
      const std::string what = "K " + std::to_string(k) + (f32 ? " fp32" : " fp16");
      expect_same(run(gpu, up(gpu, x, {rows, k})), run(cpu, up(cpu, x, {rows, k})), what);
      for (float eps : {1e-6f, 0.0f, 1e-2f}) {
        ActQuantOptions og{.rms_weight = up(gpu, w, {k}), .eps = eps}, oc{.rms_weight = up(cpu, w, {k}), .eps = eps};
        expect_same(run(gpu, up(gpu, x, {rows, k}), og), run(cpu, up(cpu, x, {rows, k}), oc),
                    what + " RMSNorm eps " + std::to_string(eps));
      }
    }
  }
  test::expect_clean(gpu);
}

INSTANTIATE_TEST_SUITE_P(Gpu, ActQuantBackends, ::testing::ValuesIn(test::gpu_backends()), test::backend_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ActQuantBackends);

}  // namespace
