// test_convert_backends.cpp — every GPU backend against the CPU, bit for bit: >= 10^6 fp32 values (in
// blocks, each at its own magnitude, specials apart) and every fp16 value, every format, saturating
// and not, packed and unpacked, dequantized to f32/f16/bf16.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <random>

#include "lowbit_formats.h"
#include "support/backends.hpp"
#include "support/block_inputs.hpp"

using namespace lowbit;

namespace {

// 2^20 fp32 values in blocks of 32 (support/block_inputs.hpp): 31744 structured blocks with exponents
// across the whole fp32 range (subnormal blocks included), then 1024 blocks of specials.
std::vector<float> million_inputs() {
  std::vector<float> v = test::structured_blocks(31744, -149, 127, 42), s = test::special_blocks(1024, 43);
  v.insert(v.end(), s.begin(), s.end());
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
// Returns the CPU's quantized tensor.
QTensor check_format(Context& gpu, Context& cpu, Format f, DType src_t, const void* data, size_t bytes, Shape shape,
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
  return qc;
}

}  // namespace

TEST_P(ConvertBackends, MillionFp32ValuesBitExactEveryFormat) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  static const std::vector<float> x = million_inputs();
  Shape shape{1024, 1024};
  for (const auto& fi : all_formats()) {
    if (fi.tensor_scale) continue;  // NVFP4: one tensor scale cannot span 2^276; see the next test
    check_format(gpu, cpu, fi.format, DType::F32, x.data(), x.size() * 4, shape, true, false);
    if (!fi.block) check_format(gpu, cpu, fi.format, DType::F32, x.data(), x.size() * 4, shape, false, false);
    if (fi.bits != 8) check_format(gpu, cpu, fi.format, DType::F32, x.data(), x.size() * 4, {4096, 256}, true, true);
  }
  lowbit::test::expect_clean(gpu);
}

// NVFP4 has one fp32 scale per tensor and E4M3 block scales (2^-9 .. 448), so a tensor can hold blocks
// within about 2^17 of its largest: 17 tensors, each with block exponents in a window of 17 binades,
// the windows stepping across the whole fp32 range; the specials in a tensor of their own. Few blocks
// may get scale 0 (asserted, so these inputs cannot silently turn into zeros again).
TEST_P(ConvertBackends, Nvfp4StructuredBlocksAcrossTheFp32Range) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = Context::create({.backend = Backend::CPU});
  size_t scales = 0, zero_scales = 0;
  for (int top = -133; top <= 127 + 16; top += 17) {
    int hi = std::min(top, 127);
    auto x = test::structured_blocks(1024, hi - 16, hi, uint32_t(1000 + top));
    for (bool packed : {false, true}) {
      QTensor q = check_format(gpu, cpu, Format::NVFP4, DType::F32, x.data(), x.size() * 4, {32, 1024}, true, packed);
      for (uint8_t s : cpu.download<uint8_t>(q.scales)) scales += 1, zero_scales += (s == 0);
    }
  }
  auto s = test::special_blocks(1024, 44);
  check_format(gpu, cpu, Format::NVFP4, DType::F32, s.data(), s.size() * 4, {32, 1024}, true, false);
  check_format(gpu, cpu, Format::NVFP4, DType::F32, s.data(), s.size() * 4, {32, 1024}, true, true);
  std::printf("nvfp4: %zu of %zu block scales are 0\n", zero_scales, scales);
  EXPECT_LT(double(zero_scales), 0.01 * double(scales)) << zero_scales << " of " << scales << " NVFP4 block scales are 0";
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
