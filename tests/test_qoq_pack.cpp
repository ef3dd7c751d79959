// test_qoq_pack.cpp — the QoQ packer (lowbit/w4a8.hpp): every layer it makes passes validate_qoq, level-2
// reconstructions stay in int8 range, the error bounds of both levels hold, per-channel layers are
// symmetric 4-bit, padding rows hold the zero, overflow is clamped and reported; and the reconstruction
// error of heavy-tailed weights with outlier channels, QoQ against RTN W4A16 g128 (printed).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <random>

#include "lowbit/lowbit.hpp"
#include "lowbit_formats.h"

using namespace lowbit;

namespace {

float s1_of(const QoqHost& q, int64_t n) { return std::bit_cast<float>(fmt::lb_f16_to_f32(q.s1[size_t(n)])); }

std::vector<float> normal_weights(int64_t n, int64_t k, uint32_t seed, float sd = 0.02f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<float> w(static_cast<size_t>(n * k));
  for (auto& v : w) v = nd(rng);
  return w;
}

// Student-t (3 degrees of freedom) weights with every 16th output channel scaled by 20 (outlier channels).
std::vector<float> heavy_tailed_weights(int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> td(3.0f);
  std::vector<float> w(static_cast<size_t>(n * k));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < k; ++i) w[size_t(r * k + i)] = td(rng) * 0.01f * (r % 16 == 5 ? 20.0f : 1.0f);
  return w;
}

TEST(QoqPack, LayersValidateAndErrorsStayWithinTheLevelBounds) {
  struct Case { int64_t n, k; int group; };
  for (Case c : {Case{8, 128, 128}, Case{5, 36, 12}, Case{3, 100, 4}, Case{16, 256, 32}, Case{7, 1, 1}, Case{4, 12, 12}}) {
    std::vector<float> w = normal_weights(c.n, c.k, uint32_t(c.k));
    w[0] = 0.5f;  // one large weight
    for (int64_t i = 0; i < c.k && c.n > 2; ++i) {
      w[size_t(c.k + i)] = std::fabs(w[size_t(c.k + i)]) + 0.01f;              // channel 1: all positive
      w[size_t(2 * c.k + i)] = -std::fabs(w[size_t(2 * c.k + i)]) - 0.3f;      // channel 2: all negative, offset
    }
    QoqReport rep;
    QoqHost q = quantize_qoq(w.data(), c.n, c.k, c.group, &rep);
    ASSERT_NO_THROW(validate_qoq(q));
    EXPECT_EQ(rep.level1_clamped, 0);
    EXPECT_EQ(rep.s1_overflow, 0);
    std::vector<float> back = dequantize_qoq(q);
    for (int64_t n = 0; n < c.n; ++n) {
      const float s1 = s1_of(q, n);
      for (int64_t k = 0; k < c.k; ++k) {
        const int32_t w8 = q.w8(n, k);
        ASSERT_GE(w8, -127);
        ASSERT_LE(w8, 127);
        const double s2 = q.scale2(n, k / c.group);
        // level 1 rounds to half a step of s1, level 2 to half a step of s2 (in units of s1)
        ASSERT_LE(std::fabs(double(w[size_t(n * c.k + k)]) - back[size_t(n * c.k + k)]), s1 * (0.5 + s2 / 2) * 1.0001)
            << "n " << n << " k " << k;
        ASSERT_EQ(back[size_t(n * c.k + k)], float(w8) * s1);
      }
      for (int64_t k = c.k; k < q.k_words() * 8; ++k) EXPECT_EQ(q.u(n, k), q.zero(n, c.k / c.group - 1)) << "padding";
    }
  }
}

TEST(QoqPack, PerChannelIsSymmetricFourBit) {
  const int64_t n = 6, k = 100;
  std::vector<float> w = normal_weights(n, k, 9);
  QoqHost q = quantize_qoq(w.data(), n, k, -1);
  ASSERT_TRUE(q.per_channel);
  EXPECT_EQ(q.group, k);
  EXPECT_TRUE(q.s2.empty());
  ASSERT_NO_THROW(validate_qoq(q));
  std::vector<float> back = dequantize_qoq(q);
  for (int64_t r = 0; r < n; ++r) {
    float amax = 0;
    for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(w[size_t(r * k + i)]));
    EXPECT_EQ(q.s1[size_t(r)], uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(amax / 7.0f))));
    for (int64_t i = 0; i < k; ++i) {
      ASSERT_GE(q.w8(r, i), -8);
      ASSERT_LE(q.w8(r, i), 7);
      ASSERT_LE(std::fabs(w[size_t(r * k + i)] - back[size_t(r * k + i)]), s1_of(q, r) * 0.5f * 1.0001f);
    }
    for (int64_t i = k; i < q.k_words() * 8; ++i) EXPECT_EQ(q.u(r, i), 8u);
  }
}

TEST(QoqPack, ZeroChannelsOverflowAndBadInput) {
  const int64_t n = 3, k = 16;
  std::vector<float> w(size_t(n * k), 0.0f);
  for (int64_t i = 0; i < k; ++i) w[size_t(k + i)] = 1e9f * float(i - 8), w[size_t(2 * k + i)] = 0.25f * float(i % 3);
  QoqReport rep;
  QoqHost q = quantize_qoq(w.data(), n, k, 8, &rep);
  ASSERT_NO_THROW(validate_qoq(q));
  EXPECT_EQ(q.s1[0], 0x3C00) << "an all-zero channel gets s1 = 1";
  for (int64_t i = 0; i < k; ++i) EXPECT_EQ(q.w8(0, i), 0);
  EXPECT_EQ(q.s1[1], 0x7BFF) << "s1 clamped to the largest fp16";
  EXPECT_EQ(rep.s1_overflow, 1);
  EXPECT_GT(rep.level1_clamped, 0);
  for (int64_t i = 0; i < k; ++i) EXPECT_LE(std::abs(q.w8(1, i)), 127);

  auto code_of = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::Internal;
  };
  EXPECT_EQ(code_of([&] { quantize_qoq(w.data(), n, k, 5); }), ErrorCode::InvalidArgument) << "group not dividing K";
  EXPECT_EQ(code_of([&] { quantize_qoq(w.data(), n, k, -3); }), ErrorCode::InvalidArgument);
  w[7] = NAN;
  EXPECT_EQ(code_of([&] { quantize_qoq(w.data(), n, k, 8); }), ErrorCode::InvalidArgument) << "NaN weight";
  // validate_qoq rejects what the packer never makes
  QoqHost bad = quantize_qoq(normal_weights(2, 16, 1).data(), 2, 16, 8);
  bad.s2[0] = 16, bad.zeros[0] = 0;
  bad.qweight[0] |= 0xFu;  // u = 15: (15 - 0) * 16 = 240
  EXPECT_EQ(code_of([&] { validate_qoq(bad); }), ErrorCode::InvalidArgument);
}

double rel_error(const std::vector<float>& w, const std::vector<float>& back) {
  double num = 0, den = 0;
  for (size_t i = 0; i < w.size(); ++i) num += double(w[i] - back[i]) * (w[i] - back[i]), den += double(w[i]) * w[i];
  return std::sqrt(num / den);
}

// Reported, not a race: QoQ's level 2 re-quantizes level-1 int8 codes, so its error sits above RTN's at the
// same group; the test prints the figures (README, W4A8) and checks only their order.
TEST(QoqPack, HeavyTailedReconstructionAgainstRtn) {
  const int64_t n = 256, k = 1024;
  std::vector<float> w = heavy_tailed_weights(n, k, 11);
  const double qoq_g128 = rel_error(w, dequantize_qoq(quantize_qoq(w.data(), n, k, 128)));
  const double qoq_pc = rel_error(w, dequantize_qoq(quantize_qoq(w.data(), n, k, -1)));
  const double rtn_g128 = rel_error(w, dequantize_w4(quantize_w4_rtn(w.data(), n, k, 128, false)));
  const double rtn_pc = rel_error(w, dequantize_w4(quantize_w4_rtn(w.data(), n, k, -1, true)));
  std::printf("[reconstruction] heavy-tailed W [%lld, %lld] (Student-t 3, every 16th channel x20), ||W - W'|| / ||W||:\n"
              "  QoQ g128 %.4f | RTN W4A16 g128 asym %.4f | QoQ per-channel %.4f | RTN per-channel sym %.4f\n",
              (long long)n, (long long)k, qoq_g128, rtn_g128, qoq_pc, rtn_pc);
  EXPECT_LT(qoq_g128, qoq_pc);
  EXPECT_LT(rtn_g128, rtn_pc);
  EXPECT_LT(qoq_g128, 2.0 * rtn_g128);
}

}  // namespace
