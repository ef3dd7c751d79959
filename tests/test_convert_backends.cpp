// test_convert_backends.cpp — every GPU backend against the CPU, bit for bit: >= 10^6 fp32 values and
// every fp16 value, every format, saturating and not, packed and unpacked, dequantized to f32/f16/bf16.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>

#include "lowbit_formats.h"
#include "support/backends.hpp"

using namespace lowbit;

namespace {

// 2^20 fp32 values: random bit patterns, normal values across 2^-40..2^40, subnormals, specials.
std::vector<float> million_inputs() {
  std::vector<float> v(1 << 20);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t i = 0; i < v.size(); ++i) {
    switch (i % 4) {
      case 0: v[i] = std::bit_cast<float>(uint32_t(rng())); break;
      case 1: v[i] = u(rng) * std::ldexp(1.0f, int(rng() % 80) - 40); break;
      case 2: v[i] = std::bit_cast<float>(uint32_t(rng() & 0x807FFFFFu)); break;
      default: v[i] = u(rng) * 8.0f;
    }
  }
  const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 448.0f, 464.0f, 57344.0f, 61440.0f, 1e30f};
  for (size_t i = 0; i < std::size(specials); ++i) v[i * 4099 + 7] = specials[i];
  return v;
}

std::vector<uint16_t> all_fp16() {
  std::vector<uint16_t> v(65536);
  for (uint32_t i = 0; i < 65536; ++i) v[i] = uint16_t(i);
  return v;
}

template <class T>
std::vector<uint8_t> bytes_of(Context& c, const Buffer& b) {
  return c.download<uint8_t>(b);
}

size_t first_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return i;
  return a.size() == b.size() ? SIZE_MAX : n;
}

class ConvertBackends : public ::testing::TestWithParam<Backend> {};

void compare_qtensors(Context& gpu, const QTensor& g, Context& cpu, const QTensor& c, const std::string& what) {
  auto gc = gpu.download<uint8_t>(g.codes), cc = cpu.download<uint8_t>(c.codes);
  size_t d = first_diff(gc, cc);
  EXPECT_EQ(d, SIZE_MAX) << what << ": codes differ at byte " << d << " (gpu " << int(gc[d]) << " cpu " << int(cc[d]) << ")";
  if (c.scales.valid()) {
    auto gs = gpu.download<uint8_t>(g.scales), cs = cpu.download<uint8_t>(c.scales);
    size_t ds = first_diff(gs, cs);
    EXPECT_EQ(ds, SIZE_MAX) << what << ": scales differ at " << ds;
  }
  if (c.tensor_scale.valid()) {
    EXPECT_EQ(gpu.download<uint32_t>(g.tensor_scale), cpu.download<uint32_t>(c.tensor_scale)) << what;
  }
}

// Quantize on both, compare; dequantize the CPU's codes on both into f32/f16/bf16, compare.
void check_format(Context& gpu, Context& cpu, Format f, DType src_t, const void* data, size_t bytes, Shape shape,
                  bool saturate, bool packed) {
  std::string what = std::string(format_info(f).name) + " from " + to_string(src_t) + (saturate ? "" : " nonsat") +
                     (packed ? " packed" : "") + " " + shape_str(shape);
  QuantizeOptions o{.saturate = saturate, .packed = packed};
  Buffer xg = gpu.upload(src_t, shape, data, bytes);
  Buffer xc = cpu.upload(src_t, shape, data, bytes);
  QTensor qg = gpu.quantize(xg, f, o), qc = cpu.quantize(xc, f, o);
  compare_qtensors(gpu, qg, cpu, qc, what);
  for (DType out : {DType::F32, DType::F16, DType::BF16}) {
    Buffer dg = gpu.dequantize(qg, out), dc = cpu.dequantize(qc, out);
    auto a = gpu.download<uint8_t>(dg), b = cpu.download<uint8_t>(dc);
    size_t d = first_diff(a, b);
    EXPECT_EQ(d, SIZE_MAX) << what << " -> " << to_string(out) << ": differs at byte " << d;
  }
}

}  // namespace

TEST_P(ConvertBackends, MillionFp32ValuesBitExactEveryFormat) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  static const std::vector<float> x = million_inputs();
  Shape shape{1024, 1024};
  for (const auto& fi : all_formats()) {
    check_format(gpu, cpu, fi.format, DType::F32, x.data(), x.size() * 4, shape, true, false);
    if (!fi.block) check_format(gpu, cpu, fi.format, DType::F32, x.data(), x.size() * 4, shape, false, false);
    if (fi.bits != 8) check_format(gpu, cpu, fi.format, DType::F32, x.data(), x.size() * 4, {4096, 256}, true, true);
  }
  lowbit::test::expect_clean(gpu);
}

TEST_P(ConvertBackends, EveryFp16AndBf16ValueBitExactEveryFormat) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  auto h = all_fp16();
  for (const auto& fi : all_formats()) {
    for (DType t : {DType::F16, DType::BF16}) {
      check_format(gpu, cpu, fi.format, t, h.data(), h.size() * 2, {256, 256}, true, false);
      if (!fi.block) check_format(gpu, cpu, fi.format, t, h.data(), h.size() * 2, {256, 256}, false, false);
    }
  }
  lowbit::test::expect_clean(gpu);
}

TEST_P(ConvertBackends, OddShapesAndTailBlocks) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  std::mt19937 rng(11);
  std::normal_distribution<float> n(0.0f, 3.0f);
  for (Shape s : {Shape{1}, Shape{3, 1}, Shape{5, 33}, Shape{7, 100}, Shape{2, 4097}, Shape{2, 3, 17}, Shape{1, 15}}) {
    std::vector<float> x(size_t(numel(s)));
    for (auto& v : x) v = n(rng);
    for (const auto& fi : all_formats())
      for (bool packed : {false, true}) check_format(gpu, cpu, fi.format, DType::F32, x.data(), x.size() * 4, s, true, packed);
  }
  lowbit::test::expect_clean(gpu);
}

TEST_P(ConvertBackends, Nvfp4GivenTensorScale) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  std::vector<float> x(3 * 50);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i)) * 10.0f;
  QuantizeOptions o{.nvfp4_tensor_scale = 0.01f};
  Buffer xg = gpu.upload(DType::F32, {3, 50}, x.data(), x.size() * 4);
  Buffer xc = cpu.upload(DType::F32, {3, 50}, x.data(), x.size() * 4);
  QTensor qg = gpu.quantize(xg, Format::NVFP4, o), qc = cpu.quantize(xc, Format::NVFP4, o);
  compare_qtensors(gpu, qg, cpu, qc, "nvfp4 given scale");
  EXPECT_EQ(cpu.download<float>(qc.tensor_scale)[0], 0.01f);
  lowbit::test::expect_clean(gpu);
}

INSTANTIATE_TEST_SUITE_P(Gpu, ConvertBackends, ::testing::ValuesIn(lowbit::test::gpu_backends()),
                         lowbit::test::backend_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ConvertBackends);

TEST(ConvertApi, RejectsBadArguments) {
  Context cpu = Context::create({.backend = Backend::CPU});
  std::vector<int32_t> ints(8);
  Buffer bi = cpu.upload(DType::I32, {8}, ints.data(), 32);
  EXPECT_THROW(cpu.quantize(bi, Format::E4M3), Error);
  std::vector<float> x(64);
  Buffer bx = cpu.upload(DType::F32, {2, 32}, x.data(), x.size() * 4);
  try {
    cpu.quantize(bx, Format::MXFP4, {.saturate = false});
    FAIL() << "non-saturating MX accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
  EXPECT_THROW(cpu.quantize(bx, Format::E4M3, {.nvfp4_tensor_scale = 1.0f}), Error);
  EXPECT_THROW(cpu.quantize(bx, Format::NVFP4, {.nvfp4_tensor_scale = -1.0f}), Error);
  EXPECT_THROW(cpu.upload(DType::F32, {2, 32}, x.data(), 12), Error);
  EXPECT_THROW(parse_format("fp5"), Error);
  QTensor q = cpu.quantize(bx, Format::MXFP4);
  q.scales = Buffer();
  EXPECT_THROW(cpu.dequantize(q), Error);
}
