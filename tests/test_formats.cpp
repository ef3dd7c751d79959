// test_formats.cpp — the shared format math (shaders/common/lowbit_formats.h) against the spec oracle
// in support/oracle.hpp: every code decoded, every fp16 value and >= 10^6 fp32 values encoded in each
// mode, MX scale rules, NVFP4 against native IEEE fp32 arithmetic, integer mul/div vs the FPU, packing.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>

#include "backend/cpu/convert_ref.hpp"
#include "lowbit_formats.h"
#include "support/kv_fp8_scales.hpp"
#include "support/oracle.hpp"

using namespace lowbit;
using namespace lowbit::fmt;
using lowbit::test::SpecEncoder;
using lowbit::test::spec_decode;
using lowbit::test::spec_format;

namespace {

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
float flt(uint32_t b) { return std::bit_cast<float>(b); }

const int kElemFormats[] = {LB_FMT_E4M3, LB_FMT_E5M2, LB_FMT_E4M3FNUZ, LB_FMT_E5M2FNUZ,
                            LB_FMT_E3M2, LB_FMT_E2M3, LB_FMT_E2M1, LB_FMT_INT8};

// fp32 inputs: random bit patterns, values around each format's range, exact ties and their
// neighbours, subnormals, zeros, infinities and NaNs. At least 10^6 values.
std::vector<uint32_t> fp32_inputs() {
  std::vector<uint32_t> v;
  std::mt19937 rng(1234);
  for (int i = 0; i < 400000; ++i) v.push_back(rng());
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < 400000; ++i) {
    float scale = std::ldexp(1.0f, int(rng() % 60) - 30);
    v.push_back(bits(u(rng) * scale));
  }
  // midpoints between neighbouring values of every format (ties) and one ulp either side
  for (int id : kElemFormats) {
    const auto& sf = spec_format(id);
    int n = 1 << (lowbit::test::spec_bits(sf) - 1);
    std::vector<double> vals;
    for (int c = 0; c < n; ++c)
      if (double d = spec_decode(sf, c); std::isfinite(d)) vals.push_back(d);
    std::sort(vals.begin(), vals.end());
    for (size_t i = 0; i + 1 < vals.size(); ++i) {
      float mid = float((vals[i] + vals[i + 1]) / 2);
      for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY), float(vals[i])})
        for (float s : {1.0f, -1.0f}) v.push_back(bits(s * x));
    }
    double top = vals.back(), step = top - vals[vals.size() - 2];
    for (double k = 0; k < 4; k += 0.25) v.push_back(bits(float(top + k * step))), v.push_back(bits(float(-top - k * step)));
  }
  for (uint32_t b = 0; b < 100000; ++b) v.push_back(b * 83);  // fp32 subnormals and tiny normals
  for (uint32_t b : {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u,
                     0x7FFFFFFFu, 0x00000001u, 0x80000001u, 0x7F7FFFFFu, 0xFF7FFFFFu})
    v.push_back(b);
  while (v.size() < 1000000) v.push_back(rng());
  return v;
}

const std::vector<uint32_t>& inputs() {
  static const std::vector<uint32_t> v = fp32_inputs();
  return v;
}

}  // namespace

TEST(Formats, SpecFactsOfEveryFormat) {
  EXPECT_EQ(spec_decode(spec_format(LB_FMT_E4M3), 0x7E), 448.0);
  EXPECT_EQ(spec_decode(spec_format(LB_FMT_E4M3), 0x01), std::ldexp(1.0, -9));
  EXPECT_EQ(spec_decode(spec_format(LB_FMT_E5M2), 0x7B), 57344.0);
  EXPECT_TRUE(std::isinf(spec_decode(spec_format(LB_FMT_E5M2), 0x7C)));
  EXPECT_EQ(spec_decode(spec_format(LB_FMT_E4M3FNUZ), 0x7F), 240.0);
  EXPECT_EQ(spec_decode(spec_format(LB_FMT_E5M2FNUZ), 0x7F), 57344.0);
  EXPECT_EQ(spec_decode(spec_format(LB_FMT_E3M2), 0x1F), 28.0);
  EXPECT_EQ(spec_decode(spec_format(LB_FMT_E2M3), 0x1F), 7.5);
  const double fp4[] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  for (int c = 0; c < 8; ++c) EXPECT_EQ(spec_decode(spec_format(LB_FMT_E2M1), c), fp4[c]);
  EXPECT_EQ(spec_decode(spec_format(LB_FMT_INT8), 0x7F), 127.0 / 64);
  EXPECT_EQ(spec_decode(spec_format(LB_FMT_INT8), 0x81), -127.0 / 64);
  for (int id : kElemFormats) {
    if (id == LB_FMT_INT8) continue;
    EXPECT_EQ(spec_decode(spec_format(id), lb_fmt_maxcode(id)), spec_format(id).max) << spec_format(id).name;
  }
}

TEST(Formats, DecodeEveryCodeMatchesSpecIntoF32F16BF16) {
  for (int id : kElemFormats) {
    const auto& sf = spec_format(id);
    for (uint32_t c = 0; c < (1u << lowbit::test::spec_bits(sf)); ++c) {
      double want = spec_decode(sf, c);
      float got = flt(lb_decode(c, 0, id, LB_FMT_F32));
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << sf.name << " code " << c;
        continue;
      }
      EXPECT_EQ(double(got), want) << sf.name << " code " << c;
      EXPECT_EQ(std::signbit(got), std::signbit(want)) << sf.name << " code " << c;
      // fp16 / bf16 outputs: FP8/FP6/FP4 values are exact in both where in range; compare via f32
      uint32_t h = lb_decode(c, 0, id, LB_FMT_F16);
      EXPECT_EQ(h, lb_f32_to_f16(bits(got))) << sf.name << " code " << c;
      uint32_t b = lb_decode(c, 0, id, LB_FMT_BF16);
      EXPECT_EQ(b, lb_f32_to_bf16(bits(got))) << sf.name << " code " << c;
    }
  }
}

TEST(Formats, DecodeNaNCodes) {
  EXPECT_TRUE(std::isnan(flt(lb_decode(0x7F, 0, LB_FMT_E4M3, LB_FMT_F32))));
  EXPECT_TRUE(std::isnan(flt(lb_decode(0xFF, 0, LB_FMT_E4M3, LB_FMT_F32))));
  EXPECT_TRUE(std::isnan(flt(lb_decode(0x80, 0, LB_FMT_E4M3FNUZ, LB_FMT_F32))));
  EXPECT_TRUE(std::isnan(flt(lb_decode(0x80, 0, LB_FMT_E5M2FNUZ, LB_FMT_F32))));
  EXPECT_TRUE(std::isnan(flt(lb_decode(0x7D, 0, LB_FMT_E5M2, LB_FMT_F32))));
  EXPECT_EQ(lb_decode(0xFC, 0, LB_FMT_E5M2, LB_FMT_F32), 0xFF800000u);
}

TEST(Formats, EncodeMillionFp32ValuesEveryFormatBothModes) {
  for (int id : kElemFormats) {
    SpecEncoder enc(spec_format(id));
    for (bool sat : {true, false}) {
      if (!sat && (id >= LB_FMT_E3M2)) continue;  // FP6/FP4/INT8 always saturate
      size_t bad = 0;
      for (uint32_t x : inputs()) {
        uint32_t want = enc.encode(double(flt(x)), sat);
        uint32_t got = lb_encode(x, 0, id, sat);
        if (got != want && ++bad < 5)
          ADD_FAILURE() << spec_format(id).name << (sat ? " sat" : " nonsat") << " x=" << flt(x) << " (0x" << std::hex
                        << x << ") got 0x" << got << " want 0x" << want;
      }
      EXPECT_EQ(bad, 0u) << spec_format(id).name;
    }
  }
}

TEST(Formats, EncodeEveryFp16ValueEveryFormat) {
  for (int id : kElemFormats) {
    SpecEncoder enc(spec_format(id));
    for (bool sat : {true, false}) {
      size_t bad = 0;
      for (uint32_t h = 0; h < 65536; ++h) {
        uint32_t x = lb_f16_to_f32(h);
        uint32_t want = enc.encode(double(flt(x)), sat || id >= LB_FMT_E3M2);
        if (lb_encode(x, 0, id, sat || id >= LB_FMT_E3M2) != want) ++bad;
      }
      EXPECT_EQ(bad, 0u) << spec_format(id).name;
    }
  }
}

TEST(Formats, Fp16ToF32IsTheGenericDecodeForEveryCode) {
  for (uint32_t h = 0; h < 0x10000u; ++h) ASSERT_EQ(lb_f16_to_f32(h), lb_decode(h, 0, LB_FMT_F16, LB_FMT_F32)) << h;
}

TEST(Formats, Fp16AndBf16ConversionsMatchOracle) {
  SpecEncoder f16(spec_format(LB_FMT_F16)), bf16(spec_format(LB_FMT_BF16));
  size_t bad = 0;
  for (uint32_t x : inputs()) {
    double d = double(flt(x));
    if (lb_f32_to_f16(x) != f16.encode(d, false)) ++bad;
    if (lb_f32_to_bf16(x) != bf16.encode(d, false)) ++bad;
  }
  EXPECT_EQ(bad, 0u);
#if defined(__FLT16_MAX__)
  // and against the compiler's own _Float16 conversion
  for (uint32_t x : inputs()) {
    _Float16 h = static_cast<_Float16>(flt(x));
    uint16_t hb;
    std::memcpy(&hb, &h, 2);
    if (std::isnan(flt(x))) continue;
    ASSERT_EQ(lb_f32_to_f16(x), hb) << flt(x);
  }
#endif
  for (uint32_t h = 0; h < 65536; ++h) {
    double want = spec_decode(spec_format(LB_FMT_F16), h);
    float got = flt(lb_f16_to_f32(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got));
    } else {
      ASSERT_EQ(double(got), want) << h;
    }
  }
}

TEST(Formats, PinnedExamples) {
  EXPECT_EQ(lb_encode(bits(1.0f), 0, LB_FMT_E4M3, true), 0x38u);
  EXPECT_EQ(lb_encode(bits(448.0f), 0, LB_FMT_E4M3, true), 0x7Eu);
  EXPECT_EQ(lb_encode(bits(464.0f), 0, LB_FMT_E4M3, false), 0x7Eu);  // tie rounds to even (448)
  EXPECT_EQ(lb_encode(bits(465.0f), 0, LB_FMT_E4M3, false), 0x7Fu);  // overflow -> NaN
  EXPECT_EQ(lb_encode(bits(1000.0f), 0, LB_FMT_E4M3, true), 0x7Eu);
  EXPECT_EQ(lb_encode(bits(-1000.0f), 0, LB_FMT_E4M3, true), 0xFEu);
  EXPECT_EQ(lb_encode(bits(INFINITY), 0, LB_FMT_E4M3, true), 0x7Eu);
  EXPECT_EQ(lb_encode(bits(INFINITY), 0, LB_FMT_E4M3, false), 0x7Fu);
  EXPECT_EQ(lb_encode(bits(-0.0f), 0, LB_FMT_E4M3, true), 0x80u);
  EXPECT_EQ(lb_encode(bits(-1e-10f), 0, LB_FMT_E4M3, true), 0x80u);  // -0 kept
  EXPECT_EQ(lb_encode(bits(-1e-10f), 0, LB_FMT_E4M3FNUZ, true), 0x00u);  // fnuz has no -0
  EXPECT_EQ(lb_encode(bits(NAN), 0, LB_FMT_E4M3FNUZ, true), 0x80u);
  EXPECT_EQ(lb_encode(bits(-NAN), 0, LB_FMT_E4M3, true), 0xFFu);
  EXPECT_EQ(lb_encode(bits(1e6f), 0, LB_FMT_E5M2, false), 0x7Cu);  // inf
  EXPECT_EQ(lb_encode(bits(-1e6f), 0, LB_FMT_E5M2, true), 0xFBu);
  EXPECT_EQ(lb_encode(bits(61440.0f), 0, LB_FMT_E5M2, false), 0x7Cu);  // tie goes to even = inf
  EXPECT_EQ(lb_encode(bits(1e6f), 0, LB_FMT_E5M2FNUZ, false), 0x80u);
  EXPECT_EQ(lb_encode(bits(100.0f), 0, LB_FMT_E2M1, true), 0x7u);
  EXPECT_EQ(lb_encode(bits(-2.5f), 0, LB_FMT_E2M1, true), 0xCu);  // tie 2.5 -> 2 (even)
  EXPECT_EQ(lb_encode(bits(1.0f), 0, LB_FMT_INT8, true), 64u);
  EXPECT_EQ(lb_encode(bits(-5.0f), 0, LB_FMT_INT8, true), 0x81u);  // clamps to -127
}

TEST(Formats, MxScaleFollowsSharedExponentRule) {
  std::mt19937 rng(7);
  for (int id : kElemFormats) {
    for (int i = 0; i < 20000; ++i) {
      uint32_t a = rng() & 0x7FFFFFFFu;
      if (!lb_is_finite_abs(a)) continue;
      int want = a == 0 ? -127 : std::ilogb(double(flt(a))) - lb_fmt_emax(id);
      want = std::clamp(want, -127, 127);
      ASSERT_EQ(lb_mx_scale_code(a, id), uint32_t(want + 127)) << flt(a);
    }
    EXPECT_EQ(lb_mx_scale_code(0, id), 0u);
    EXPECT_EQ(lb_mx_scale_code(0x7F800000u, id), 255u);
    EXPECT_EQ(lb_mx_scale_code(0x7FC00000u, id), 255u);
  }
  EXPECT_EQ(lb_fmt_emax(LB_FMT_E4M3), 8);
  EXPECT_EQ(lb_fmt_emax(LB_FMT_E5M2), 15);
  EXPECT_EQ(lb_fmt_emax(LB_FMT_E3M2), 4);
  EXPECT_EQ(lb_fmt_emax(LB_FMT_E2M3), 2);
  EXPECT_EQ(lb_fmt_emax(LB_FMT_E2M1), 2);
}

TEST(Formats, MxElementsAreScaledValuesRoundedAndSaturated) {
  std::mt19937 rng(8);
  for (int id : kElemFormats) {
    SpecEncoder enc(spec_format(id));
    for (int i = 0; i < 200000; ++i) {
      uint32_t x = inputs()[rng() % inputs().size()];
      if (!lb_is_finite_abs(lb_abs_bits(x))) continue;
      uint32_t sc = rng() % 255;
      double scaled = std::ldexp(double(flt(x)), -(int(sc) - 127));
      ASSERT_EQ(lb_mx_encode(x, sc, id), enc.encode(scaled, true)) << spec_format(id).name << " x=" << flt(x) << " sc=" << sc;
      uint32_t code = rng() & ((1u << lb_fmt_bits(id)) - 1);
      double dv = spec_decode(spec_format(id), code);
      double want = std::ldexp(dv, int(sc) - 127);
      float got = flt(lb_mx_decode(code, sc, id, LB_FMT_F32));
      if (std::isnan(dv)) {
        ASSERT_TRUE(std::isnan(got));
      } else {
        ASSERT_EQ(double(got), double(float(want))) << spec_format(id).name << " code " << code << " sc " << sc;
      }
    }
    EXPECT_EQ(lb_mx_encode(bits(1.0f), 255, id), 0u);
    EXPECT_TRUE(std::isnan(flt(lb_mx_decode(0, 255, id, LB_FMT_F32))));
  }
}

TEST(Formats, IntegerMulAndDivMatchTheFpu) {
  std::mt19937 rng(99);
  auto pick = [&]() -> uint32_t {
    switch (rng() % 4) {
      case 0: return rng();
      case 1: return rng() & 0x807FFFFFu;                          // subnormals
      case 2: return (rng() & 0x80FFFFFFu) | ((rng() % 60 + 100) << 23);  // moderate
      default: return bits(float(rng() % 1000) / 8.0f);
    }
  };
  for (int i = 0; i < 1000000; ++i) {
    uint32_t a = pick(), b = pick();
    float m = flt(a) * flt(b), d = flt(a) / flt(b);
    uint32_t gm = lb_mul_f32(a, b), gd = lb_div_f32(a, b);
    if (std::isnan(m)) ASSERT_TRUE(std::isnan(flt(gm))); else ASSERT_EQ(gm, bits(m)) << flt(a) << " * " << flt(b);
    if (std::isnan(d)) ASSERT_TRUE(std::isnan(flt(gd))); else ASSERT_EQ(gd, bits(d)) << flt(a) << " / " << flt(b);
  }
}

namespace {

// The bit-serial long division lb_div_f32 used before the reciprocal estimate + integer correction of
// lb_div_sig: 26 quotient bits of A/B (A, B significands in [2^23, 2^24)), then a sticky bit.
uint32_t bit_serial_div_sig(uint32_t A, uint32_t B) {
  if (A < B) A <<= 1;
  uint32_t q = 0, r = A;
  for (int i = 0; i < 26; ++i) {
    q <<= 1;
    if (r >= B) r -= B, q |= 1u;
    r <<= 1;
  }
  return (q << 1) | (r != 0u ? 1u : 0u);
}
uint32_t bit_serial_div_f32(uint32_t a, uint32_t b) {
  bool neg = ((a ^ b) >> 31) != 0u;
  uint32_t aa = a & 0x7FFFFFFFu, ab = b & 0x7FFFFFFFu;
  if (aa > 0x7F800000u || ab > 0x7F800000u) return 0x7FC00000u;
  if (aa == 0x7F800000u) return ab == 0x7F800000u ? 0x7FC00000u : lb_pack_f32(neg, 0x7F800000u);
  if (ab == 0x7F800000u) return lb_pack_f32(neg, 0u);
  if (ab == 0u) return aa == 0u ? 0x7FC00000u : lb_pack_f32(neg, 0x7F800000u);
  if (aa == 0u) return lb_pack_f32(neg, 0u);
  uint32_t A = lb_norm_sig(aa), B = lb_norm_sig(ab);
  int p = lb_norm_exp(aa) - lb_norm_exp(ab) - (A < B ? 1 : 0);
  return lb_pack_f32(neg, lb_round_pack(bit_serial_div_sig(A, B), p - 26, 23, 127));
}

}  // namespace

// lb_div_sig (float estimate + exact integer correction) against the bit-serial division: 10^7 random
// significand pairs, every A for a few divisors, and the edges (A = B, B ± 1, exact and tied
// quotients, extreme significands).
TEST(Formats, FastSignificandDivisionEqualsBitSerial) {
  std::mt19937 rng(2026);
  auto sig = [&] { return 0x800000u | (rng() & 0x7FFFFFu); };
  for (int i = 0; i < 10000000; ++i) {
    uint32_t A = sig(), B = sig();
    ASSERT_EQ(lb_div_sig(A, B), bit_serial_div_sig(A, B)) << A << " / " << B;
  }
  for (uint32_t B : {0x800000u, 0x800001u, 0xFFFFFFu, 0xC00000u, 0xAAAAABu})
    for (uint32_t A = 0x800000u; A < 0x1000000u; ++A)
      ASSERT_EQ(lb_div_sig(A, B), bit_serial_div_sig(A, B)) << A << " / " << B;
  std::vector<uint32_t> edges = {0x800000u, 0x800001u, 0x800002u, 0xFFFFFFu, 0xFFFFFEu, 0xC00000u, 0xA00000u,
                                 0xE00000u, 0x900000u, 0xAAAAAAu, 0xAAAAABu, 0xCCCCCDu, 0x924925u};
  for (int i = 0; i < 2000; ++i) edges.push_back(sig());
  for (uint32_t B : edges)
    for (uint32_t A : {B, B - 1, B + 1, B * 2 - 1, B / 2 * 3, (B >> 1) | 0x800000u, 0x800000u, 0xFFFFFFu}) {
      if (A < 0x800000u || A > 0xFFFFFFu) continue;
      ASSERT_EQ(lb_div_sig(A, B), bit_serial_div_sig(A, B)) << A << " / " << B;
    }
}

// The host's float division is exact, so the estimate above is never off by more than one; devices may
// divide to 2.5 ulp (about 10 units of the 26-bit quotient). The integer correction must give the exact
// quotient from any estimate within 127 units.
TEST(Formats, SignificandDivisionCorrectsAnyNearbyEstimate) {
  std::mt19937 rng(7);
  auto sig = [&] { return 0x800000u | (rng() & 0x7FFFFFu); };
  for (int i = 0; i < 200000; ++i) {
    uint32_t A = sig(), B = sig(), want = bit_serial_div_sig(A, B), q = want >> 1;
    for (int off : {-127, -64, -11, -2, -1, 1, 2, 11, 64, 127, int(rng() % 255) - 127})
      ASSERT_EQ(lb_div_sig_correct(A, B, q + uint32_t(off)), want) << A << " / " << B << " estimate off by " << off;
  }
}

// The whole lb_div_f32 (special values, subnormals, exponent range, rounding) against the bit-serial
// division on 10^7 random fp32 pairs.
TEST(Formats, FastDivisionEqualsBitSerialOnRandomFp32Pairs) {
  std::mt19937 rng(11);
  auto pick = [&]() -> uint32_t {
    switch (rng() % 5) {
      case 0: return rng();                                                // anything, NaN/inf included
      case 1: return rng() & 0x807FFFFFu;                                  // subnormals and zeros
      case 2: return (rng() & 0x807FFFFFu) | ((rng() % 40 + 108) << 23);  // moderate exponents
      case 3: return bits(float(rng() % 4096) / 16.0f);                    // short significands: exact quotients
      default: return (rng() & 0x80000000u) | (rng() % 4 << 21) | 0x3F800000u;  // ties and near-ties
    }
  };
  for (int i = 0; i < 10000000; ++i) {
    uint32_t a = pick(), b = pick();
    ASSERT_EQ(lb_div_f32(a, b), bit_serial_div_f32(a, b)) << std::hex << a << " / " << b;
  }
}

TEST(Formats, Nvfp4MatchesNativeFp32Definition) {
  SpecEncoder e4m3(spec_format(LB_FMT_E4M3)), e2m1(spec_format(LB_FMT_E2M1));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int t = 0; t < 2000; ++t) {
    float mag = std::ldexp(1.0f, int(rng() % 80) - 40);
    std::vector<float> x(16);
    for (auto& v : x) v = u(rng) * mag * (rng() % 8 == 0 ? 100.0f : 1.0f);
    float tensor_amax = mag * 150.0f;
    float ts = tensor_amax / (448.0f * 6.0f);
    ASSERT_EQ(lb_nvfp4_tensor_scale(bits(tensor_amax)), bits(ts));
    float amax = 0;
    for (float v : x) amax = std::max(amax, std::fabs(v));
    uint32_t want_s = e4m3.encode(double(amax / 6.0f / ts), true);
    uint32_t sc = lb_nvfp4_scale_code(bits(amax), bits(ts));
    ASSERT_EQ(sc, want_s);
    float s = float(spec_decode(spec_format(LB_FMT_E4M3), sc));
    for (float v : x) {
      uint32_t c = lb_nvfp4_encode(bits(v), sc, bits(ts));
      if (sc == 0) {
        ASSERT_EQ(c, 0u);
        continue;
      }
      ASSERT_EQ(c, e2m1.encode(double(v / (s * ts)), true)) << v;
      float want = float(spec_decode(spec_format(LB_FMT_E2M1), c)) * s * ts;
      ASSERT_EQ(lb_nvfp4_decode(c, sc, bits(ts), LB_FMT_F32), bits(want));
    }
  }
  EXPECT_EQ(lb_nvfp4_tensor_scale(0), bits(1.0f));
  EXPECT_EQ(lb_nvfp4_scale_code(0x7F800000u, bits(1.0f)), 0x7Fu);
  EXPECT_TRUE(std::isnan(flt(lb_nvfp4_decode(0, 0x7F, bits(1.0f), LB_FMT_F32))));
}

// ---- row-level reference: blocks, tails, packing ---------------------------------------------
namespace {
struct RowResult {
  std::vector<uint8_t> codes, scales;
};
RowResult quantize_ref(Format f, const std::vector<float>& x, uint64_t rows, bool packed, uint32_t ts = 0x3F800000u) {
  const FormatInfo& fi = format_info(f);
  uint64_t cols = x.size() / rows;
  RowResult r;
  r.codes.assign(rows * detail::row_code_bytes(fi, cols, packed), 0xAA);
  r.scales.assign(rows * scales_per_row(f, cols), 0xAA);
  detail::HostQuantize h{&fi, LB_FMT_F32, x.data(), r.codes.data(), r.scales.data(), rows, cols, true, packed, ts};
  detail::quantize_rows(h, 0, rows);
  return r;
}
}  // namespace

TEST(Formats, MxBlockWithZeroAmaxGetsScaleZero) {
  auto r = quantize_ref(Format::MXFP8_E4M3, std::vector<float>(32, 0.0f), 1, false);
  EXPECT_EQ(r.scales[0], 0u);
  for (auto c : r.codes) EXPECT_EQ(c, 0u);
}

TEST(Formats, MxBlockWithNaNOrInfGetsNaNScale) {
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    std::vector<float> x(64, 1.0f);
    x[40] = bad;
    auto r = quantize_ref(Format::MXFP4, x, 1, false);
    EXPECT_EQ(r.scales[0], 127u - 2u);  // amax 1 -> floor(log2 1) - emax(E2M1)=2
    EXPECT_EQ(r.scales[1], 0xFFu);
  }
}

TEST(Formats, MxOutlierSetsScaleAndSmallValuesFlush) {
  std::vector<float> x(32, 0.01f);
  x[3] = 1000.0f;  // floor(log2 1000) = 9
  auto r = quantize_ref(Format::MXFP4, x, 1, false);
  EXPECT_EQ(r.scales[0], uint8_t(127 + 9 - 2));
  EXPECT_EQ(r.codes[3], 0x7u);  // 1000/128 = 7.8 -> saturates to 6
  EXPECT_EQ(r.codes[0], 0x0u);  // 0.01/128 -> 0
}

TEST(Formats, TailBlockHasItsOwnScale) {
  std::vector<float> x(33, 1.0f);
  x[32] = 64.0f;
  auto r = quantize_ref(Format::MXINT8, x, 1, false);
  ASSERT_EQ(r.scales.size(), 2u);
  EXPECT_EQ(r.scales[0], 127u);       // amax 1 -> e = 0
  EXPECT_EQ(r.scales[1], 127u + 6);  // amax 64 -> e = 6
  EXPECT_EQ(r.codes[32], 64u);       // 64 / 2^6 * 64
}

TEST(Formats, PackedLayoutsMatchTheSpecifiedBitOrder) {
  // FP4: codes 1,2,3 -> 0x21, 0x03 (low nibble first, row padded with a zero code)
  std::vector<float> fp4 = {0.5f, 1.0f, 1.5f};
  auto r4 = quantize_ref(Format::NVFP4, fp4, 1, true, lb_nvfp4_tensor_scale(bits(1.5f)));
  ASSERT_EQ(r4.codes.size(), 2u);
  // amax 1.5: ts = 1.5/2688, block scale E4M3(1.5/6/ts) = 448, step 448*ts = 0.25, so the elements
  // are 2, 4, 6 = E2M1 codes 4, 6, 7
  EXPECT_EQ(r4.codes[0], 0x64u);
  EXPECT_EQ(r4.codes[1], 0x07u);
  // FP6: five E2M3 codes 1..5 at scale 2^0 -> 24-bit word c0 | c1<<6 | c2<<12 | c3<<18, then c4
  std::vector<float> fp6(5);
  for (int i = 0; i < 5; ++i) fp6[i] = float(spec_decode(spec_format(LB_FMT_E2M3), i + 1)) * 4.0f;
  fp6[4] = 7.5f * 4.0f;  // amax 30 -> e = 4 - 2 = 2, element 7.5 = code 0x1F
  auto r6 = quantize_ref(Format::MXFP6_E2M3, fp6, 1, true);
  ASSERT_EQ(r6.codes.size(), 6u);
  uint32_t w = 1u | 2u << 6 | 3u << 12 | 4u << 18;
  EXPECT_EQ(r6.codes[0], w & 0xFF);
  EXPECT_EQ(r6.codes[1], (w >> 8) & 0xFF);
  EXPECT_EQ(r6.codes[2], (w >> 16) & 0xFF);
  EXPECT_EQ(r6.codes[3], 0x1Fu);
  EXPECT_EQ(r6.codes[4], 0u);
  EXPECT_EQ(r6.codes[5], 0u);
}

TEST(Formats, RoundTripErrorWithinHalfAStep) {
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> x(64 * 96);
  for (auto& v : x) v = n(rng);
  for (const auto& fi : all_formats()) {
    if (fi.format == Format::E4M3FNUZ || fi.format == Format::E5M2FNUZ) continue;
    uint64_t rows = 64, cols = 96;
    auto q = quantize_ref(fi.format, x, rows, false, bits(3.0f / 2688.0f));
    std::vector<float> back(x.size());
    detail::HostDequantize d{&fi, LB_FMT_F32, q.codes.data(), q.scales.data(), bits(3.0f / 2688.0f), back.data(), rows, cols, false};
    detail::dequantize_rows(d, 0, rows);
    double rel = fi.bits == 4 ? 0.5 : fi.bits == 6 ? 0.25 : 0.13;
    for (size_t i = 0; i < x.size(); ++i) {
      float amax_block = 0;
      size_t b0 = i / cols * cols + (i % cols) / (fi.block ? fi.block : 1) * (fi.block ? fi.block : 1);
      for (size_t j = b0; j < b0 + (fi.block ? size_t(fi.block) : 1) && j / cols == i / cols; ++j)
        amax_block = std::max(amax_block, std::fabs(x[j]));
      // plain FP8: relative half-step, or half the smallest subnormal near zero
      double tiny = fi.format == Format::E4M3 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -17);
      double tol = fi.block ? rel * amax_block : rel * std::fabs(x[i]) + tiny;
      ASSERT_LE(std::fabs(back[i] - x[i]), tol) << fi.name << " at " << i << " x=" << x[i];
    }
  }
}

// KV int8/int4 codes: lb_kv_int_code (no division) equals its definition lb_kv_int_code_by_division
// (roundEven of the correctly rounded quotient) for every fp16 x on rows of every kind: random rows,
// rows whose scale is an fp16 subnormal, huge, or 1.0 (empty range), rows holding ±inf or only NaNs;
// then quotients aimed at the ties n + 0.5 and their neighbours for a third of all fp16 scales.
TEST(Formats, KvIntCodeEqualsCorrectlyRoundedDivision) {
  std::mt19937 rng(21);
  auto h = [](float f) { return lb_f32_to_f16(bits(f)); };
  std::vector<std::pair<uint32_t, uint32_t>> rows;  // (min, max) fp16 bits
  for (int i = 0; i < 160; ++i) {
    uint32_t a = rng() & 0xFFFFu, b = rng() & 0xFFFFu;
    if (lb_kv_is_nan(a) || lb_kv_is_nan(b)) continue;
    if (lb_kv_order(a) > lb_kv_order(b)) std::swap(a, b);
    rows.push_back({a, b});
  }
  for (float lo : {-65504.0f, -1.0f, -0.0f, 0.0f, 5.96e-8f, 0.25f})
    for (float hi : {6.1e-5f, 1.0f, 3.0f, 1000.0f, 65504.0f})
      if (lo <= hi) rows.push_back({h(lo), h(hi)});
  rows.push_back({0x0001u, 0x0003u});  // subnormal range: subnormal scale
  rows.push_back({0x3C00u, 0x3C00u});  // empty range: scale 1
  rows.push_back({0xFC00u, 0x3C00u});  // -inf min
  rows.push_back({0x0000u, 0x7C00u});  // +inf max
  rows.push_back({0xFC00u, 0x7C00u});  // inf range
  for (uint32_t L : {255u, 15u}) {
    for (auto [lo, hi] : rows) {
      const uint32_t p = lb_kv_int_params(lb_kv_min_key(lo, 0), lb_kv_max_key(hi), L);
      const uint32_t zero = lb_f16_to_f32(p & 0xFFFFu), scale = lb_f16_to_f32(p >> 16);
      for (uint32_t x = 0; x < 0x10000u; ++x)
        ASSERT_EQ(lb_kv_int_code(x, zero, scale, L), lb_kv_int_code_by_division(x, zero, scale, L))
            << std::hex << "x " << x << " row " << lo << ".." << hi << " L " << std::dec << L;
    }
    const uint32_t nan_row = lb_kv_int_params(LB_KV_NO_MIN, 0u, L);  // a row of NaNs
    for (uint32_t x = 0; x < 0x10000u; ++x)
      ASSERT_EQ(lb_kv_int_code(x, lb_f16_to_f32(nan_row & 0xFFFFu), lb_f16_to_f32(nan_row >> 16), L),
                lb_kv_int_code_by_division(x, lb_f16_to_f32(nan_row & 0xFFFFu), lb_f16_to_f32(nan_row >> 16), L));
    // near-ties: x the fp16 values around zero + scale * (n + 0.5)
    for (uint32_t sh = 0x0001u; sh < 0x7C00u; sh += 3) {
      const uint32_t scale = lb_f16_to_f32(sh);
      for (float z : {0.0f, -1.0f, flt(lb_f16_to_f32(rng() & 0x7BFFu)) * -1.0f}) {
        const uint32_t zero = lb_f16_to_f32(h(z));
        for (uint32_t n = 0; n < L; n += 1 + rng() % 8) {
          const float target = flt(zero) + flt(scale) * (float(n) + 0.5f);
          const uint32_t c = h(target);
          for (int dx = -2; dx <= 2; ++dx) {
            const uint32_t x = (c + uint32_t(dx)) & 0xFFFFu;
            ASSERT_EQ(lb_kv_int_code(x, zero, scale, L), lb_kv_int_code_by_division(x, zero, scale, L))
                << std::hex << "x " << x << " zero " << zero << " scale " << scale << " L " << std::dec << L;
          }
        }
      }
    }
  }
}

// KV FP8 codes: lb_kv_fp8_code (no division: an estimate of 1/s, then an exact test against the FP8
// midpoint) equals its definition lb_kv_fp8_code_by_division (RNE of the correctly rounded quotient) for
// every fp16 x and every class of scale, with the exact reciprocal and estimates 2^-12 off; then for x / s
// within 3 ulps of every FP8 midpoint, where fl(x / s) lands on the midpoint without x / s being it.
TEST(Formats, KvFp8CodeEqualsCorrectlyRoundedDivision) {
  for (int f : {LB_FMT_E4M3, LB_FMT_E5M2}) {
    for (float s : test::kv_fp8_scale_classes()) {
      const uint32_t sb = bits(s);
      for (float r : {1.0f / s, 1.0f / s * (1.0f + 1.0f / 4096), 1.0f / s * (1.0f - 1.0f / 4096)})
        for (uint32_t x = 0; x < 0x10000u; ++x)
          ASSERT_EQ(lb_kv_fp8_code(x, sb, r, f), lb_kv_fp8_code_by_division(x, sb, f))
              << std::hex << "x " << x << " scale " << sb << " recip " << bits(r) << " fmt " << f;
    }
    int double_rounded = 0;
    for (auto [xh, s] : test::kv_fp8_midpoint_cases(f, 24, 3, 5))
      for (uint32_t x : {xh - 1, xh, xh + 1, xh | 0x8000u}) {
        ASSERT_EQ(lb_kv_fp8_code(x, bits(s), 1.0f / s, f), lb_kv_fp8_code_by_division(x, bits(s), f))
            << std::hex << "x " << x << " scale " << bits(s) << " fmt " << f;
        // fl(x / s) on the midpoint of its two codes, x / s not (double holds x / s to 2^-53)
        const float q = flt(lb_div_f32(lb_f16_to_f32(x & 0x7FFFu), bits(s)));
        const uint32_t c = lb_kv_fp8_floor_code(q, f), kvf = f == LB_FMT_E4M3 ? 3u : 4u;
        const float m = 0.5f * (lb_kv_code_value(c, 0, kvf) + lb_kv_code_value(c + 1, 0, kvf));
        if (q == m && double(flt(lb_f16_to_f32(x & 0x7FFFu))) / double(s) != double(m)) ++double_rounded;
      }
    EXPECT_GT(double_rounded, 0) << "the midpoint cases must include double-rounding ties (fmt " << f << ")";
  }
}

// The attention kernels' FP8 element decode (lb_kv_code_value, exact without subnormal arithmetic)
// gives the value of every E4M3 / E5M2 code, NaN codes NaN; int codes are the code's number.
TEST(Formats, KvCodeValuesMatchTheGenericDecode) {
  for (uint32_t c = 0; c < 256; ++c) {
    const uint32_t w = c << 16;  // element 2 of a word
    for (auto [kv_fmt, f] : {std::pair{3u, LB_FMT_E4M3}, std::pair{4u, LB_FMT_E5M2}}) {
      const float want = flt(lb_decode(c, 0, f, LB_FMT_F32)), got = lb_kv_code_value(w, 2, kv_fmt);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << kv_fmt << " code " << c;
      } else {
        EXPECT_EQ(bits(got), bits(want)) << kv_fmt << " code " << c;
      }
    }
    EXPECT_EQ(lb_kv_code_value(w, 2, 1u), float(c));
    EXPECT_EQ(lb_kv_code_value(uint32_t(c & 15) << 20, 5, 2u), float(c & 15));
  }
}
