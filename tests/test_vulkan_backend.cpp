// test_vulkan_backend.cpp — the Vulkan backend against the CPU reference (bit for bit) and its own
// machinery: probing, device selection, row-chunked dispatch under a lowered binding range, staging
// copies, pooled descriptors, deferred frees, timing, and the on-disk pipeline cache. Runs with the
// validation layer on (CTest sets LOWBIT_VK_VALIDATION=1); any validation message fails the test.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "backend/device.hpp"
#include "host/internal_access.hpp"
#include "host/log.hpp"
#include "lowbit_formats.h"
#include "support/backends.hpp"
#include "support/scoped_env.hpp"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

// ---- inputs ------------------------------------------------------------------------------------------

// fp32 bit patterns: per-row magnitudes from subnormal to huge, with specials sprinkled in (some blocks
// stay finite so that ordinary MX/NVFP4 scales are exercised too).
std::vector<uint32_t> test_bits(uint64_t rows, uint64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const float specials[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-45f, -1.17549421e-38f,
                            3.4e38f, -1e30f, 448.0f, 464.0f, 57344.0f, 6.0f, -0.75f, 0.25f, 2.5f, 65520.0f};
  std::vector<uint32_t> v(rows * cols);
  for (uint64_t r = 0; r < rows; ++r) {
    int center = int((r * 37 + seed) % 200) - 140;  // row magnitude 2^-140 .. 2^59
    for (uint64_t c = 0; c < cols; ++c) {
      uint64_t i = r * cols + c;
      float x = u(rng) * std::ldexp(1.0f, center + int(rng() % 12));
      if (rng() % 29 == 0) x = specials[rng() % std::size(specials)];
      v[i] = std::bit_cast<uint32_t>(x);
    }
  }
  return v;
}

// The same values as bytes of dtype t (fp16/bf16 rounded with the shared format math).
std::vector<uint8_t> as_dtype(const std::vector<uint32_t>& bits, DType t) {
  std::vector<uint8_t> out(bits.size() * dtype_size(t));
  for (size_t i = 0; i < bits.size(); ++i) {
    if (t == DType::F32) {
      std::memcpy(&out[4 * i], &bits[i], 4);
    } else {
      uint16_t h = uint16_t(t == DType::F16 ? lowbit::fmt::lb_f32_to_f16(bits[i]) : lowbit::fmt::lb_f32_to_bf16(bits[i]));
      std::memcpy(&out[2 * i], &h, 2);
    }
  }
  return out;
}

// ---- comparison --------------------------------------------------------------------------------------

::testing::AssertionResult same_bytes(Context& a, const Buffer& ba, Context& b, const Buffer& bb) {
  auto x = a.download<uint8_t>(ba), y = b.download<uint8_t>(bb);
  if (x.size() != y.size()) return ::testing::AssertionFailure() << "sizes " << x.size() << " vs " << y.size();
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != y[i])
      return ::testing::AssertionFailure() << "byte " << i << " of " << x.size() << ": vulkan 0x" << std::hex
                                           << int(x[i]) << " cpu 0x" << int(y[i]);
  return ::testing::AssertionSuccess();
}

void expect_same_qtensor(Context& vk, const QTensor& q, Context& cpu, const QTensor& r, const std::string& what) {
  EXPECT_TRUE(same_bytes(vk, q.codes, cpu, r.codes)) << what << ": codes";
  if (r.scales.valid()) {
    EXPECT_TRUE(same_bytes(vk, q.scales, cpu, r.scales)) << what << ": scales";
  }
  if (r.tensor_scale.valid()) {
    EXPECT_TRUE(same_bytes(vk, q.tensor_scale, cpu, r.tensor_scale)) << what << ": tensor scale";
  }
}

// Quantizes the same input on both contexts, compares; dequantizes both to every float dtype, compares.
void check_roundtrip(Context& vk, Context& cpu, Format f, DType src, uint64_t rows, uint64_t cols,
                     const QuantizeOptions& o, uint32_t seed) {
  std::string what = std::string(format_info(f).name) + " " + to_string(src) + " " + std::to_string(rows) + "x" +
                     std::to_string(cols) + (o.packed ? " packed" : "") + (o.saturate ? "" : " nonsat") +
                     (o.nvfp4_tensor_scale ? " given-ts" : "");
  auto data = as_dtype(test_bits(rows, cols, seed), src);
  Shape shape{int64_t(rows), int64_t(cols)};
  QTensor q = vk.quantize(vk.upload(src, shape, data.data(), data.size()), f, o);  // input dies right away
  QTensor r = cpu.quantize(cpu.upload(src, shape, data.data(), data.size()), f, o);
  expect_same_qtensor(vk, q, cpu, r, what);
  for (DType out : {DType::F32, DType::F16, DType::BF16})
    EXPECT_TRUE(same_bytes(vk, vk.dequantize(q, out), cpu, cpu.dequantize(r, out)))
        << what << ": dequantize to " << to_string(out);
}

ContextOptions options(Backend b, std::string device = "", std::string cache_dir = "") {
  ContextOptions o;
  o.backend = b;
  o.device = std::move(device);
  o.cache_dir = std::move(cache_dir);
  return o;
}
Context cpu_context() { return Context::create(options(Backend::CPU)); }
Context vulkan_context() { return Context::create(options(Backend::Vulkan)); }

QuantizeOptions qopts(bool saturate, bool packed, std::optional<float> tensor_scale = std::nullopt) {
  QuantizeOptions o;
  o.saturate = saturate;
  o.packed = packed;
  o.nvfp4_tensor_scale = tensor_scale;
  return o;
}

// Skips (or fails, when required) like LOWBIT_CONTEXT_OR_SKIP; the test then builds contexts with options.
#define VULKAN_OR_SKIP() LOWBIT_BACKEND_OR_SKIP(Backend::Vulkan)

// Tests share one Vulkan context where they need no special environment: lavapipe compiles every
// pipeline variant from scratch, so compiling each once keeps the suite short.
class VulkanBackend : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { shared_.reset(); }
  static Context& shared() {
    if (!shared_) shared_ = std::make_unique<Context>(vulkan_context());
    return *shared_;
  }

 private:
  static inline std::unique_ptr<Context> shared_;
};

#define SHARED_VULKAN_OR_SKIP(ctx) \
  VULKAN_OR_SKIP();                \
  Context& ctx = shared()

using test::ScopedEnv;

// Captures lowbit's log lines while alive.
class LogCapture {
 public:
  explicit LogCapture(spdlog::level::level_enum level) : old_level_(log().level()) {
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    log().sinks().push_back(sink_);
    log().set_level(level);
  }
  ~LogCapture() {
    auto& s = log().sinks();
    s.erase(std::remove(s.begin(), s.end(), sink_), s.end());
    log().set_level(old_level_);
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  spdlog::level::level_enum old_level_;
};

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("lowbit-vk-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<fs::path> cache_files(const fs::path& dir) {
  std::vector<fs::path> v;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("vk-pipelines-", 0) == 0) v.push_back(e.path());
  return v;
}

// ---- probing and device choice ------------------------------------------------------------------------

TEST_F(VulkanBackend, ProbeDescribesEveryDevice) {
  VULKAN_OR_SKIP();
  for (const auto& rep : probe_backends()) {
    if (rep.backend != Backend::Vulkan) continue;
    ASSERT_TRUE(rep.available) << rep.reason;
    ASSERT_FALSE(rep.devices.empty());
    for (const auto& d : rep.devices) {
      EXPECT_FALSE(d.name.empty());
      EXPECT_FALSE(d.vendor.empty());
      EXPECT_FALSE(d.driver_version.empty());
      EXPECT_TRUE(d.type == "discrete" || d.type == "integrated" || d.type == "cpu" || d.type == "virtual" ||
                  d.type == "other")
          << d.type;
      EXPECT_EQ(d.api_version.find("1."), 0u) << d.api_version;
      EXPECT_GE(d.subgroup_size, 1u);
      EXPECT_GE(d.max_workgroup_size, 64u);
      EXPECT_GE(d.max_buffer_range, uint64_t(1) << 27);
      EXPECT_GE(d.shared_memory_bytes, 16384u);
    }
  }
}

TEST_F(VulkanBackend, DeviceInfoOfTheContextMatchesTheProbe) {
  LOWBIT_CONTEXT_OR_SKIP(vk, Backend::Vulkan);
  EXPECT_EQ(vk.backend(), Backend::Vulkan);
  const auto& d = vk.device_info();
  if (d.name.find("llvmpipe") != std::string::npos) {  // lavapipe facts (DESIGN §7)
    EXPECT_EQ(d.type, "cpu");
    EXPECT_EQ(d.vendor, "Mesa");
    EXPECT_EQ(d.max_buffer_range, uint64_t(128) << 20);
    EXPECT_TRUE(d.fp16);
    EXPECT_TRUE(d.int8);
    EXPECT_FALSE(d.cooperative_matrix);
  }
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, DeviceSelectionByUnknownNameThrowsNotFound) {
  VULKAN_OR_SKIP();
  for (const char* sel : {"no-such-gpu-xyz", "99"}) {
    try {
      Context::create(options(Backend::Vulkan, sel));
      ADD_FAILURE() << "device '" << sel << "' was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
      EXPECT_NE(std::string(e.what()).find(sel), std::string::npos) << e.what();
    }
  }
}

TEST_F(VulkanBackend, DeviceSelectionByIndexAndNameSubstring) {
  LOWBIT_CONTEXT_OR_SKIP(first, Backend::Vulkan);
  std::string name = first.device_info().name;
  std::string upper = name.substr(0, std::min<size_t>(4, name.size()));
  for (auto& ch : upper) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  Context by_name = Context::create(options(Backend::Vulkan, upper));
  EXPECT_EQ(by_name.device_info().name, name);
  Context by_index = Context::create(options(Backend::Vulkan, "0"));
  EXPECT_EQ(by_index.device_info().name, name);
  test::expect_clean(by_name);
}

// ---- conversions, bit for bit against the CPU ------------------------------------------------------------

// Context::copy: the copy kernel (GPUs' default; LOWBIT_VK_COPY=kernel forces it here) and the transfer
// command give the same bytes, whole 16-byte words or not (the kernel then falls back to the transfer).
TEST_F(VulkanBackend, CopyKernelAndTransferCommandGiveTheSameBytes) {
  SHARED_VULKAN_OR_SKIP(ctx);
  for (const char* form : {"kernel", "transfer"}) {
    ScopedEnv env("LOWBIT_VK_COPY", form);
    for (size_t n : {size_t(16), size_t(48), size_t(4112), size_t(1 << 20) + 32, size_t(100003), size_t(7)}) {
      std::vector<uint8_t> h(n);
      for (size_t i = 0; i < n; ++i) h[i] = uint8_t(i * 131 + n);
      Buffer src = ctx.upload(DType::U8, {int64_t(n)}, h.data(), n);
      Buffer dst = ctx.alloc(DType::U8, {int64_t(n)});
      ctx.copy(src, dst);
      EXPECT_EQ(ctx.download<uint8_t>(dst), h) << form << " " << n << " bytes";
    }
  }
  test::expect_clean(ctx);
}

TEST_F(VulkanBackend, QuantizeAndDequantizeMatchCpuForEveryFormatDtypeLayoutAndOddShape) {
  SHARED_VULKAN_OR_SKIP(vk);
  Context cpu = cpu_context();
  const std::pair<uint64_t, uint64_t> shapes[] = {{3, 1}, {5, 33}, {7, 100}, {2, 4097}};
  uint32_t seed = 1;
  for (const auto& fi : all_formats())
    for (DType src : {DType::F32, DType::F16, DType::BF16})
      for (bool packed : {false, true})
        for (auto [rows, cols] : shapes) {
          check_roundtrip(vk, cpu, fi.format, src, rows, cols, qopts(true, packed), seed++);
          if (!fi.block && !packed)
            check_roundtrip(vk, cpu, fi.format, src, rows, cols, qopts(false, false), seed++);
        }
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, Nvfp4WithGivenTensorScaleMatchesCpuAndIsStored) {
  SHARED_VULKAN_OR_SKIP(vk);
  Context cpu = cpu_context();
  for (float ts : {1.0f, 0.0123f, 3.0e-6f, 1.5e20f})
    for (bool packed : {false, true})
      check_roundtrip(vk, cpu, Format::NVFP4, DType::F32, 9, 70, qopts(true, packed, ts), 7);
  auto data = as_dtype(test_bits(4, 48, 3), DType::F32);
  QTensor q = vk.quantize(vk.upload(DType::F32, {4, 48}, data.data(), data.size()), Format::NVFP4,
                          qopts(true, false, 0.5f));
  EXPECT_EQ(vk.download<float>(q.tensor_scale).at(0), 0.5f);
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, Nvfp4ComputesTheTensorScaleFromFiniteAmax) {
  SHARED_VULKAN_OR_SKIP(vk);
  Context cpu = cpu_context();
  // amax over finite values only: inf and NaN must not count.
  std::vector<float> x = {1.0f, -2688.0f, INFINITY, NAN, -INFINITY, 3.0f, 0.0f, 5.0f};
  QTensor q = vk.quantize(vk.upload(DType::F32, {2, 4}, x.data(), x.size() * 4), Format::NVFP4);
  EXPECT_EQ(vk.download<float>(q.tensor_scale).at(0), 1.0f);  // 2688 / (448 * 6)
  // All zeros -> 1; only non-finite -> 1.
  for (float v : {0.0f, INFINITY}) {
    std::vector<float> z(40, v);
    QTensor qz = vk.quantize(vk.upload(DType::F32, {40}, z.data(), z.size() * 4), Format::NVFP4);
    EXPECT_EQ(vk.download<float>(qz.tensor_scale).at(0), 1.0f) << v;
  }
  for (DType src : {DType::F32, DType::F16, DType::BF16})
    check_roundtrip(vk, cpu, Format::NVFP4, src, 33, 129, qopts(true, true), 11);
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, InPlaceQuantizeIntoReusedBuffersOverwritesEverything) {
  SHARED_VULKAN_OR_SKIP(vk);
  Context cpu = cpu_context();
  for (Format f : {Format::MXFP4, Format::MXFP6_E3M2, Format::NVFP4}) {
    QTensor q = vk.alloc_qtensor(f, {6, 45}, true), r = cpu.alloc_qtensor(f, {6, 45}, true);
    std::vector<uint8_t> junk(q.codes.bytes(), 0xA5);
    detail::device_of(vk).write(*q.codes.mem(), 0, junk.data(), junk.size());  // padding bits must be cleared
    for (uint32_t seed : {1u, 2u}) {
      auto data = as_dtype(test_bits(6, 45, seed), DType::F32);
      vk.quantize_into(vk.upload(DType::F32, {6, 45}, data.data(), data.size()), q);
      cpu.quantize_into(cpu.upload(DType::F32, {6, 45}, data.data(), data.size()), r);
      expect_same_qtensor(vk, q, cpu, r, format_info(f).name);
    }
  }
  test::expect_clean(vk);
}

// ---- machinery -------------------------------------------------------------------------------------------

TEST_F(VulkanBackend, LowBindingRangeSplitsTensorsIntoRowChunks) {
  VULKAN_OR_SKIP();
  ScopedEnv range("LOWBIT_VK_MAX_RANGE", "1000");  // read when the context is created
  Context vk = vulkan_context();
  Context cpu = cpu_context();
  // 300 x 33 fp32 = 132-byte rows: 7 rows per chunk, 43 chunks, unaligned chunk offsets everywhere.
  for (Format f : {Format::E4M3, Format::MXFP4, Format::MXFP6_E2M3, Format::NVFP4})
    check_roundtrip(vk, cpu, f, DType::F32, 300, 33, qopts(true, true), 5);
  check_roundtrip(vk, cpu, Format::MXINT8, DType::F16, 300, 33, qopts(true, false), 5);
  check_roundtrip(vk, cpu, Format::E5M2, DType::BF16, 129, 7, qopts(false, false), 6);
  // One row larger than the binding range cannot be split: a clear Unsupported error.
  std::vector<float> wide(300, 1.0f);
  try {
    vk.quantize(vk.upload(DType::F32, {1, 300}, wide.data(), wide.size() * 4), Format::E4M3);
    ADD_FAILURE() << "a 1200-byte row was accepted with a 1000-byte binding range";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("row"), std::string::npos) << e.what();
  }
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, StagingCopiesGiveTheSameResults) {
  VULKAN_OR_SKIP();
  ScopedEnv staging("LOWBIT_VK_FORCE_STAGING", "1");  // the path of discrete GPUs (VRAM not mappable)
  Context vk = vulkan_context();
  Context cpu = cpu_context();
  for (Format f : {Format::E4M3, Format::MXFP4, Format::NVFP4})
    check_roundtrip(vk, cpu, f, DType::F32, 17, 65, qopts(true, true), 9);
  // Partial writes at an offset, ordered after queued work that reads the buffer.
  std::vector<float> x(64, 1.0f), y(16, 448.0f);
  Buffer b = vk.upload(DType::F32, {64}, x.data(), 256);
  QTensor q1 = vk.quantize(b, Format::E4M3);
  detail::device_of(vk).write(*b.mem(), 64, y.data(), 64);
  QTensor q2 = vk.quantize(b, Format::E4M3);
  auto c1 = vk.download<uint8_t>(q1.codes), c2 = vk.download<uint8_t>(q2.codes);
  EXPECT_EQ(c1[20], 0x38);  // 1.0
  EXPECT_EQ(c2[20], 0x7E);  // 448
  EXPECT_EQ(c2[40], 0x38);
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, PooledDescriptorsGiveTheSameResults) {
  VULKAN_OR_SKIP();
  ScopedEnv nopush("LOWBIT_VK_NO_PUSH_DESCRIPTORS", "1");
  Context vk = vulkan_context();
  Context cpu = cpu_context();
  for (int i = 0; i < 3; ++i)  // more than one pool's worth of sets between waits
    for (Format f : {Format::E5M2, Format::MXFP8_E4M3, Format::NVFP4})
      check_roundtrip(vk, cpu, f, DType::F16, 5, 40, qopts(true, false), 10 + i);
  std::vector<float> x(32, 2.0f);
  Buffer b = vk.upload(DType::F32, {32}, x.data(), 128);
  std::vector<QTensor> qs;
  for (int i = 0; i < 300; ++i) qs.push_back(vk.quantize(b, Format::MXFP4));
  EXPECT_EQ(vk.download<uint8_t>(qs.back().scales).at(0), 127 - 1);  // 2 -> exponent 1 - emax 2
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, ManyQueuedOpsAndEarlyFreedBuffersStayCorrect) {
  SHARED_VULKAN_OR_SKIP(vk);
  // More ops than the timestamp pool holds between waits, inputs and outputs dropped while queued.
  std::vector<float> x(96);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i) - 40.0f;
  QTensor keep;
  for (int i = 0; i < 600; ++i) {
    QTensor q = vk.quantize(vk.upload(DType::F32, {3, 32}, x.data(), x.size() * 4), Format::MXINT8);
    if (i % 50 == 0) vk.submit();
    if (i == 599) keep = q;
  }
  Buffer back = vk.dequantize(keep, DType::F32);
  auto y = vk.download<float>(back);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i]) << i;  // exact in MXINT8 blocks
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, DeviceTimingCountsOpsSinceReset) {
  SHARED_VULKAN_OR_SKIP(vk);
  std::vector<float> x(1 << 16, 1.5f);
  Buffer b = vk.upload(DType::F32, {256, 256}, x.data(), x.size() * 4);
  vk.quantize(b, Format::MXFP4);
  vk.reset_timing();
  EXPECT_EQ(vk.timing().device_ms, 0.0);
  for (int i = 0; i < 3; ++i) vk.quantize(b, Format::MXFP4, qopts(true, true));
  double ms = vk.timing().device_ms;
  EXPECT_GT(ms, 0.0);
  EXPECT_LT(ms, 10000.0);
  EXPECT_EQ(vk.timing().device_ms, ms);  // nothing new queued
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, PipelineCacheIsWrittenReusedAndACorruptOneIgnored) {
  VULKAN_OR_SKIP();
  fs::path dir = fresh_dir("pcache");
  Context cpu = cpu_context();
  auto run_once = [&] {
    Context vk = Context::create(options(Backend::Vulkan, "", dir.string()));
    auto data = as_dtype(test_bits(4, 40, 3), DType::F32);
    QTensor q = vk.quantize(vk.upload(DType::F32, {4, 40}, data.data(), data.size()), Format::E4M3);
    QTensor r = cpu.quantize(cpu.upload(DType::F32, {4, 40}, data.data(), data.size()), Format::E4M3);
    expect_same_qtensor(vk, q, cpu, r, "e4m3");
    test::expect_clean(vk);
  };
  run_once();
  auto files = cache_files(dir);
  ASSERT_EQ(files.size(), 1u);
  std::vector<char> data(fs::file_size(files[0]));
  std::ifstream(files[0], std::ios::binary).read(data.data(), data.size());
  ASSERT_GE(data.size(), 32u);
  uint32_t header_size, version;
  std::memcpy(&header_size, data.data(), 4);
  std::memcpy(&version, data.data() + 4, 4);
  EXPECT_EQ(header_size, 32u);
  EXPECT_EQ(version, 1u);  // VK_PIPELINE_CACHE_HEADER_VERSION_ONE

  {  // a valid file is loaded
    LogCapture cap(spdlog::level::debug);
    run_once();
    EXPECT_NE(cap.text().find("loaded pipeline cache"), std::string::npos) << cap.text();
    EXPECT_EQ(cap.text().find("ignoring pipeline cache"), std::string::npos) << cap.text();
  }
  for (const std::string& junk : {std::string("garbage"), std::string(64, '\x01'), std::string(40, '\0')}) {
    std::ofstream(files[0], std::ios::binary | std::ios::trunc) << junk;
    LogCapture cap(spdlog::level::warn);
    run_once();  // works, warns, and writes a valid file again
    EXPECT_NE(cap.text().find("ignoring pipeline cache"), std::string::npos) << cap.text();
    EXPECT_GE(fs::file_size(files[0]), 32u);
  }
  {  // a header for another device (vendor ID changed) is ignored too
    std::vector<char> other = data;
    other[8] ^= 0x55;
    std::ofstream(files[0], std::ios::binary | std::ios::trunc).write(other.data(), other.size());
    LogCapture cap(spdlog::level::warn);
    run_once();
    EXPECT_NE(cap.text().find("another vendor"), std::string::npos) << cap.text();
  }
  fs::remove_all(dir);
}

TEST_F(VulkanBackend, PipelineCachePathThatIsADirectoryIsIgnored) {
  VULKAN_OR_SKIP();
  fs::path dir = fresh_dir("pcache_dir");
  {
    Context vk = Context::create(options(Backend::Vulkan, "", dir.string()));
    auto data = as_dtype(test_bits(4, 40, 3), DType::F32);
    vk.download<uint8_t>(vk.quantize(vk.upload(DType::F32, {4, 40}, data.data(), data.size()), Format::E4M3).codes);
  }
  auto files = cache_files(dir);
  ASSERT_EQ(files.size(), 1u);
  // A directory where the cache file belongs "has" a size of 2^63 - 1 on ext4: never read it.
  fs::remove(files[0]);
  fs::create_directory(files[0]);
  Context vk = Context::create(options(Backend::Vulkan, "", dir.string()));
  auto data = as_dtype(test_bits(4, 40, 3), DType::F32);
  QTensor q = vk.quantize(vk.upload(DType::F32, {4, 40}, data.data(), data.size()), Format::E4M3);
  EXPECT_EQ(vk.download<uint8_t>(q.codes).size(), 160u);
  EXPECT_TRUE(fs::is_directory(files[0]));
  fs::remove_all(dir);
}

TEST_F(VulkanBackend, OversizedAllocationThrowsOutOfMemory) {
  SHARED_VULKAN_OR_SKIP(vk);
  uint64_t max_bytes = uint64_t(1) << 40;  // beyond any device's maxMemoryAllocationSize / heap
  try {
    vk.alloc(DType::U8, {int64_t(max_bytes)});
    ADD_FAILURE() << "a 1 TiB buffer was allocated";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::OutOfMemory) << e.what();
  }
  test::expect_clean(vk);
}

TEST_F(VulkanBackend, BuffersOutliveTheirContext) {
  Buffer survivor;
  {
    LOWBIT_CONTEXT_OR_SKIP(vk, Backend::Vulkan);
    std::vector<float> x(100, 3.0f);
    survivor = vk.upload(DType::F32, {100}, x.data(), 400);
    vk.quantize(survivor, Format::E4M3);  // queued, then the context goes away
  }
  EXPECT_EQ(survivor.bytes(), 400u);  // destroying it after the context must not crash
}

}  // namespace
