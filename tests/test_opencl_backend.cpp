// test_opencl_backend.cpp — the OpenCL backend against the CPU reference, bit for bit: every format x
// source dtype x packed/unpacked on odd shapes (with NaN, ±inf, ±0, subnormals, huge values), dequantize
// of arbitrary codes to f32/f16/bf16, NVFP4 tensor scales, the program binary cache (fresh, reused and
// corrupt), device selection errors, timing. Set LOWBIT_CL_BENCH=1 for the 4096x4096 throughput run.
#include <gtest/gtest.h>
#include <unistd.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>

#include "backend/device.hpp"
#include "backend/opencl/cl_platform.hpp"
#include "backend/opencl/cl_util.hpp"
#include "backend/opencl/program_cache.hpp"
#include "backend/opencl/program_stats.hpp"
#include "host/internal_access.hpp"
#include "support/backends.hpp"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

// Option structs without designated initializers (-Wmissing-field-initializers).
ContextOptions opts(Backend b, const std::string& device = {}, const std::string& cache = {}) {
  ContextOptions o;
  o.backend = b;
  o.device = device;
  o.cache_dir = cache;
  return o;
}
QuantizeOptions qopts(bool saturate, bool packed, std::optional<float> ts = std::nullopt) {
  QuantizeOptions o;
  o.saturate = saturate;
  o.packed = packed;
  o.nvfp4_tensor_scale = ts;
  return o;
}

// One OpenCL and one CPU context for the whole binary (PoCL compiles are slow: each kernel variant
// is built once and reused by every test).
struct Shared {
  bool ok = false;
  std::string why;
  Context cl, cpu;
};
Shared& shared() {
  static Shared s = [] {
    Shared r;
    r.ok = test::make_context(Backend::OpenCL, r.cl, r.why);
    r.cpu = Context::create(opts(Backend::CPU));
    return r;
  }();
  return s;
}
#define SHARED_OPENCL_OR_SKIP(cl, cpu)            \
  if (!shared().ok) GTEST_SKIP() << shared().why; \
  Context& cl = shared().cl;                      \
  [[maybe_unused]] Context& cpu = shared().cpu

const std::vector<Shape> kShapes = {{3, 1}, {5, 33}, {7, 100}, {2, 4097}};

// fp32 inputs: magnitudes from subnormal to huge, exact ties of the small formats, and (sparsely, so
// most MX blocks stay finite) NaN, ±inf, ±0.
std::vector<uint32_t> f32_inputs(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint32_t> v(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t r = rng(), sign = (rng() & 1u) << 31;
    switch (r % 8) {
      case 0: v[i] = rng(); break;                                            // any bit pattern
      case 1: v[i] = sign | (rng() & 0x007FFFFFu); break;                     // subnormal
      case 2: v[i] = sign | (uint32_t(100 + rng() % 60) << 23) | (rng() & 0x7FFFFFu); break;  // ~2^-27..2^32
      case 3: v[i] = sign | (uint32_t(120 + rng() % 20) << 23) | ((rng() % 16) << 19); break;  // ties
      case 4: v[i] = sign | (uint32_t(240 + rng() % 15) << 23) | (rng() & 0x7FFFFFu); break;  // huge
      default: v[i] = sign | (uint32_t(118 + rng() % 18) << 23) | (rng() & 0x7FFFFFu);      // 2^-9..2^8
    }
    if (rng() % 97 == 0) {
      const uint32_t sp[] = {0x7FC00000u, 0xFFC00001u, 0x7F800000u, 0xFF800000u, 0u, 0x80000000u, 0x43E00000u,
                             0x43E80000u, 0x47600000u, 0x7F7FFFFFu};
      v[i] = sp[rng() % std::size(sp)];
    }
  }
  return v;
}

// Source bytes of `n` elements of dtype t derived from f32 inputs (fp16: random bit patterns of every
// class; bf16: the top half of the fp32 patterns).
std::vector<uint8_t> source_bytes(DType t, size_t n, uint32_t seed) {
  auto f = f32_inputs(n, seed);
  std::vector<uint8_t> out(n * dtype_size(t));
  if (t == DType::F32) {
    std::memcpy(out.data(), f.data(), out.size());
    return out;
  }
  std::mt19937 rng(seed * 7 + 1);
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    if (t == DType::BF16) {
      h = uint16_t(f[i] >> 16);
    } else {
      h = uint16_t(rng());
      if (rng() % 4 != 0 && (h & 0x7C00u) == 0x7C00u) h ^= 0x4000u;  // keep NaN/inf rarer
    }
    std::memcpy(out.data() + 2 * i, &h, 2);
  }
  return out;
}

size_t first_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return i;
  return a.size() == b.size() ? SIZE_MAX : n;
}

void expect_same_bytes(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, const std::string& what) {
  size_t d = first_diff(a, b);
  EXPECT_EQ(d, SIZE_MAX) << what << ": first difference at byte " << d << " (opencl "
                         << (d < a.size() ? int(a[d]) : -1) << ", cpu " << (d < b.size() ? int(b[d]) : -1) << ")";
}

void expect_same_qtensor(Context& cl, const QTensor& g, Context& cpu, const QTensor& c, const std::string& what) {
  expect_same_bytes(cl.download<uint8_t>(g.codes), cpu.download<uint8_t>(c.codes), what + " codes");
  if (c.scales.valid()) {
    expect_same_bytes(cl.download<uint8_t>(g.scales), cpu.download<uint8_t>(c.scales), what + " scales");
  }
  if (c.tensor_scale.valid()) {
    EXPECT_EQ(cl.download<uint32_t>(g.tensor_scale), cpu.download<uint32_t>(c.tensor_scale)) << what << " tensor scale";
  }
}

std::string dtype_name(DType d) { return to_string(d); }

using FormatDType = std::tuple<Format, DType>;
std::vector<FormatDType> format_dtype_grid() {
  std::vector<FormatDType> v;
  for (auto& fi : all_formats())
    for (DType d : {DType::F32, DType::F16, DType::BF16}) v.emplace_back(fi.format, d);
  return v;
}
std::string grid_name(const ::testing::TestParamInfo<FormatDType>& i) {
  return std::string(format_info(std::get<0>(i.param)).name) + "_" + dtype_name(std::get<1>(i.param));
}

class OpenClConvert : public ::testing::TestWithParam<FormatDType> {};

// quantize (saturating and not for plain FP8, packed and unpacked) on every odd shape == CPU.
TEST_P(OpenClConvert, QuantizeMatchesCpuBitForBit) {
  SHARED_OPENCL_OR_SKIP(cl, cpu);
  auto [f, dt] = GetParam();
  const FormatInfo& fi = format_info(f);
  uint32_t seed = 1;
  for (const Shape& s : kShapes) {
    size_t n = size_t(numel(s));
    auto src = source_bytes(dt, n, seed++);
    Buffer xg = cl.upload(dt, s, src.data(), src.size());
    Buffer xc = cpu.upload(dt, s, src.data(), src.size());
    for (bool packed : {false, true})
      for (bool sat : {true, false}) {
        if (!sat && fi.block) continue;
        QuantizeOptions o = qopts(sat, packed);
        std::string what = std::string(fi.name) + " from " + dtype_name(dt) + " " + shape_str(s) +
                           (packed ? " packed" : "") + (sat ? "" : " nonsat");
        expect_same_qtensor(cl, cl.quantize(xg, f, o), cpu, cpu.quantize(xc, f, o), what);
      }
  }
  test::expect_clean(cl);
}

// dequantize of arbitrary code / scale bytes (every NaN and special code included) == CPU.
TEST_P(OpenClConvert, DequantizeMatchesCpuBitForBit) {
  SHARED_OPENCL_OR_SKIP(cl, cpu);
  auto [f, dt] = GetParam();
  const FormatInfo& fi = format_info(f);
  std::mt19937 rng(77);
  for (const Shape& s : kShapes)
    for (bool packed : {false, true}) {
      QTensor qg = cl.alloc_qtensor(f, s, packed), qc = cpu.alloc_qtensor(f, s, packed);
      auto fill = [&](Buffer& g, Buffer& c, uint32_t mask) {
        std::vector<uint8_t> b(g.bytes());
        for (auto& x : b) x = uint8_t(rng() & mask);
        g = cl.upload(g.dtype(), g.shape(), b.data(), b.size());
        c = cpu.upload(c.dtype(), c.shape(), b.data(), b.size());
      };
      // unpacked codes keep to the code width (what quantize writes); packed bytes are arbitrary
      fill(qg.codes, qc.codes, packed ? 0xFFu : (1u << fi.bits) - 1u);
      if (fi.block) fill(qg.scales, qc.scales, 0xFFu);
      if (fi.tensor_scale) {
        float ts = 0.0123f;
        qg.tensor_scale = cl.upload(DType::F32, {1}, &ts, 4);
        qc.tensor_scale = cpu.upload(DType::F32, {1}, &ts, 4);
      }
      std::string what = std::string(fi.name) + " to " + dtype_name(dt) + " " + shape_str(s) + (packed ? " packed" : "");
      expect_same_bytes(cl.download<uint8_t>(cl.dequantize(qg, dt)), cpu.download<uint8_t>(cpu.dequantize(qc, dt)), what);
    }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, OpenClConvert, ::testing::ValuesIn(format_dtype_grid()), grid_name);

TEST(OpenClNvfp4, GivenTensorScaleIsUsedAndStored) {
  SHARED_OPENCL_OR_SKIP(cl, cpu);
  auto src = source_bytes(DType::F32, 7 * 100, 5);
  for (float ts : {0.37f, 1e-30f, 3e4f}) {
    Buffer xg = cl.upload(DType::F32, {7, 100}, src.data(), src.size());
    Buffer xc = cpu.upload(DType::F32, {7, 100}, src.data(), src.size());
    for (bool packed : {false, true}) {
      QuantizeOptions o = qopts(true, packed, ts);
      QTensor qg = cl.quantize(xg, Format::NVFP4, o);
      EXPECT_EQ(cl.download<float>(qg.tensor_scale)[0], ts);
      expect_same_qtensor(cl, qg, cpu, cpu.quantize(xc, Format::NVFP4, o), "nvfp4 ts=" + std::to_string(ts));
      expect_same_bytes(cl.download<uint8_t>(cl.dequantize(qg, DType::F32)),
                        cpu.download<uint8_t>(cpu.dequantize(cpu.quantize(xc, Format::NVFP4, o), DType::F32)),
                        "nvfp4 round trip");
    }
  }
}

TEST(OpenClNvfp4, ComputedTensorScaleMatchesCpu) {
  SHARED_OPENCL_OR_SKIP(cl, cpu);
  // a large tensor (many amax work-groups), one with only non-finite and zero values (amax 0 -> 1.0),
  // and one whose largest finite value sits next to infinities
  std::vector<std::pair<Shape, std::vector<uint32_t>>> cases;
  cases.push_back({{300, 1001}, f32_inputs(300 * 1001, 9)});
  cases.push_back({{4, 16}, std::vector<uint32_t>(64, 0x7F800000u)});
  cases.back().second[3] = 0x7FC00000u;
  cases.back().second[5] = 0x80000000u;
  std::vector<uint32_t> big(3 * 50, 0x3F800000u);
  big[17] = 0x7F800000u;
  big[99] = 0xC6000000u;  // -8192: the amax
  cases.push_back({{3, 50}, big});
  for (auto& [s, v] : cases) {
    Buffer xg = cl.upload(DType::F32, s, v.data(), v.size() * 4);
    Buffer xc = cpu.upload(DType::F32, s, v.data(), v.size() * 4);
    QTensor qg = cl.quantize(xg, Format::NVFP4), qc = cpu.quantize(xc, Format::NVFP4);
    expect_same_qtensor(cl, qg, cpu, qc, "nvfp4 computed scale " + shape_str(s));
  }
  EXPECT_EQ(cl.download<float>(cl.quantize(cl.upload(DType::F32, {4, 16}, cases[1].second.data(), 256),
                                           Format::NVFP4).tensor_scale)[0], 1.0f);
  EXPECT_EQ(cl.download<float>(cl.quantize(cl.upload(DType::F32, {3, 50}, big.data(), big.size() * 4),
                                           Format::NVFP4).tensor_scale)[0], 8192.0f / 2688.0f);
}

// ---- device, timing, limits ---------------------------------------------------------------------
TEST(OpenClDevice, ReportsItsFacts) {
  SHARED_OPENCL_OR_SKIP(cl, cpu);
  const DeviceInfo& i = cl.device_info();
  EXPECT_EQ(i.backend, Backend::OpenCL);
  EXPECT_FALSE(i.name.empty());
  EXPECT_EQ(i.api_version.rfind("OpenCL", 0), 0u) << i.api_version;
  EXPECT_FALSE(i.driver_version.empty());
  EXPECT_GE(i.subgroup_size, 1u);
  EXPECT_GT(i.max_buffer_range, 0u);
  EXPECT_GT(i.max_workgroup_size, 0u);
  EXPECT_TRUE(i.int8);
  EXPECT_FALSE(i.cooperative_matrix);
  for (auto& r : probe_backends())
    if (r.backend == Backend::OpenCL) {
      ASSERT_TRUE(r.available) << r.reason;
      ASSERT_FALSE(r.devices.empty());
      EXPECT_EQ(r.devices[0].name, i.name);
    }
}

TEST(OpenClDevice, SelectorMatchingNothingThrowsNotFound) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, Backend::OpenCL);
  for (const char* sel : {"no-such-device-xyz", "99"}) {
    try {
      Context::create(opts(Backend::OpenCL, sel));
      ADD_FAILURE() << "selector '" << sel << "' should not match";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
    }
  }
  // a case-insensitive substring of the device's name and index 0 both select it
  std::string name = ctx.device_info().name;
  std::string part = name.substr(0, std::min<size_t>(name.size(), 6));
  for (auto& ch : part) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_EQ(Context::create(opts(Backend::OpenCL, part)).device_info().name, name);
  EXPECT_EQ(Context::create(opts(Backend::OpenCL, "0")).device_info().name, name);
}

TEST(OpenClDevice, BufferLargerThanMaxAllocIsATypedError) {
  SHARED_OPENCL_OR_SKIP(cl, cpu);
  uint64_t too_big = cl.device_info().max_buffer_range + 1;
  try {
    cl.alloc(DType::U8, {int64_t(too_big)});
    ADD_FAILURE() << "allocating " << too_big << " bytes should fail";
  } catch (const Error& e) {
    EXPECT_TRUE(e.code() == ErrorCode::OutOfMemory || e.code() == ErrorCode::Unsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("CL_DEVICE_MAX_MEM_ALLOC_SIZE"), std::string::npos) << e.what();
  }
}

TEST(OpenClDevice, ProfilingTimesTheOps) {
  SHARED_OPENCL_OR_SKIP(cl, cpu);
  auto src = source_bytes(DType::F32, 64 * 1024, 3);
  Buffer x = cl.upload(DType::F32, {64, 1024}, src.data(), src.size());
  cl.reset_timing();
  EXPECT_EQ(cl.timing().device_ms, 0.0);
  QTensor q = cl.quantize(x, Format::MXFP4, qopts(true, true));
  cl.submit();
  cl.dequantize(q, DType::F16);
  double ms = cl.timing().device_ms;
  EXPECT_GT(ms, 0.0);
  cl.reset_timing();
  EXPECT_EQ(cl.timing().device_ms, 0.0);
}

// ---- program binary cache ------------------------------------------------------------------------
struct TempDir {
  fs::path path;
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("lowbit-cl-cache-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

detail::ProgramCacheStats stats_of(Context& c) {
  auto s = detail::opencl_program_stats(detail::device_of(c));
  EXPECT_TRUE(s.has_value());
  return s.value_or(detail::ProgramCacheStats{});
}

// Quantizes a fixed input to E4M3 and MXFP4 on `c` and checks it against the CPU.
void quantize_and_check(Context& c, Context& cpu) {
  auto src = source_bytes(DType::F32, 5 * 33, 11);
  Buffer xg = c.upload(DType::F32, {5, 33}, src.data(), src.size());
  Buffer xc = cpu.upload(DType::F32, {5, 33}, src.data(), src.size());
  for (Format f : {Format::E4M3, Format::MXFP4})
    expect_same_qtensor(c, c.quantize(xg, f, qopts(true, true)), cpu, cpu.quantize(xc, f, qopts(true, true)),
                        std::string("cache check ") + format_info(f).name);
}

std::vector<fs::path> cache_files(const fs::path& dir) {
  std::vector<fs::path> v;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("opencl-", 0) == 0) v.push_back(e.path());
  return v;
}

// Queued work that fails on the device (which PoCL gives no way to provoke) surfaces from the waiting
// call as DeviceLost; the same code from an allocation stays OutOfMemory.
TEST(OpenClErrors, FailedQueuedWorkIsDeviceLost) {
  auto code_of = [](auto&& call) {
    try {
      call();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::Internal;
  };
  for (cl_int err : {CL_OUT_OF_RESOURCES, CL_DEVICE_NOT_AVAILABLE, CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST})
    EXPECT_EQ(code_of([&] { detail::cl::check_wait(err, "clFinish"); }), ErrorCode::DeviceLost) << detail::cl::error_name(err);
  EXPECT_EQ(code_of([] { detail::cl::check(CL_OUT_OF_RESOURCES, "clCreateBuffer"); }), ErrorCode::OutOfMemory);
  EXPECT_EQ(code_of([] { detail::cl::check(CL_DEVICE_NOT_AVAILABLE, "clEnqueueNDRangeKernel"); }), ErrorCode::DeviceLost);
}

TEST(OpenClProgramCache, SecondContextLoadsBinariesFromDisk) {
  LOWBIT_CONTEXT_OR_SKIP(probe, Backend::OpenCL);
  Context cpu = Context::create(opts(Backend::CPU));
  TempDir dir;
  ContextOptions o = opts(Backend::OpenCL, "", dir.path.string());
  {
    Context a = Context::create(o);
    quantize_and_check(a, cpu);
    auto s = stats_of(a);
    EXPECT_GE(s.source_builds, 3u);  // probe kernel + two convert variants
    EXPECT_EQ(s.disk_loads, 0u);
    EXPECT_EQ(s.disk_writes, s.source_builds);
  }
  EXPECT_GE(cache_files(dir.path).size(), 3u);
  Context b = Context::create(o);
  quantize_and_check(b, cpu);
  auto s = stats_of(b);
  EXPECT_EQ(s.source_builds, 0u);
  EXPECT_GE(s.disk_loads, 3u);
  EXPECT_EQ(s.disk_rejected, 0u);
  // a new QTensor of the same variant reuses the in-process kernel: no new build or load
  quantize_and_check(b, cpu);
  EXPECT_EQ(stats_of(b).disk_loads, s.disk_loads);
  EXPECT_EQ(stats_of(b).source_builds, 0u);
}

TEST(OpenClProgramCache, CorruptFilesFallBackToSourceAndAreRewritten) {
  LOWBIT_CONTEXT_OR_SKIP(probe, Backend::OpenCL);
  Context cpu = Context::create(opts(Backend::CPU));
  TempDir dir;
  ContextOptions o = opts(Backend::OpenCL, "", dir.path.string());
  { Context a = Context::create(o); quantize_and_check(a, cpu); }
  auto files = cache_files(dir.path);
  ASSERT_GE(files.size(), 3u);
  // three kinds of damage: garbage, truncation, and a flipped payload byte
  for (size_t i = 0; i < files.size(); ++i) {
    std::vector<unsigned char> bytes;
    {
      std::ifstream in(files[i], std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    if (i % 3 == 0) {
      bytes.assign(100, 0xAB);
    } else if (i % 3 == 1) {
      bytes.resize(bytes.size() / 2);
    } else {
      bytes[bytes.size() - 7] ^= 0x5A;
    }
    std::ofstream out(files[i], std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  {
    Context c = Context::create(o);
    quantize_and_check(c, cpu);
    auto s = stats_of(c);
    EXPECT_EQ(s.disk_rejected, files.size());
    EXPECT_EQ(s.source_builds, files.size());
    EXPECT_EQ(s.disk_writes, files.size());
  }
  Context d = Context::create(o);
  quantize_and_check(d, cpu);
  EXPECT_EQ(stats_of(d).disk_rejected, 0u);
  EXPECT_EQ(stats_of(d).source_builds, 0u);
}

TEST(OpenClProgramCache, BuildFailureIsABackendErrorWithTheLog) {
  LOWBIT_CONTEXT_OR_SKIP(probe, Backend::OpenCL);
  auto devs = detail::cl::list_devices();
  cl_int err = CL_SUCCESS;
  cl_device_id dev = devs[0].device;
  detail::cl::Context ctx(clCreateContext(nullptr, 1, &dev, nullptr, nullptr, &err));
  ASSERT_EQ(err, CL_SUCCESS);
  detail::cl::ProgramCache cache(ctx.get(), dev, detail::cl::driver_key(devs[0]), {});
  try {
    cache.get("broken.cl", "__kernel void k(__global uint* p) { p[0] = undeclared_thing; }\n", "-cl-std=CL1.2");
    ADD_FAILURE() << "a broken source built";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Backend);
    std::string w = e.what();
    EXPECT_NE(w.find("CL_BUILD_PROGRAM_FAILURE"), std::string::npos) << w;
    EXPECT_NE(w.find("undeclared_thing"), std::string::npos) << "the build log should be included: " << w;
  }
}

// ---- throughput (LOWBIT_CL_BENCH=1) -------------------------------------------------------------
TEST(OpenClBench, Throughput4096x4096) {
  if (!std::getenv("LOWBIT_CL_BENCH")) GTEST_SKIP() << "set LOWBIT_CL_BENCH=1 to run";
  SHARED_OPENCL_OR_SKIP(cl, cpu);
  const int64_t R = 4096, C = 4096;
  std::vector<float> x(size_t(R * C));
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (auto& v : x) v = nd(rng);
  Buffer xb = cl.upload(DType::F32, {R, C}, x.data(), x.size() * 4);
  for (Format f : {Format::E4M3, Format::MXFP4}) {
    bool packed = f == Format::MXFP4;
    QTensor q = cl.quantize(xb, f, qopts(true, packed));  // warm-up (build + JIT)
    Buffer out = cl.dequantize(q, DType::F32);
    cl.wait();
    double code_bytes = double(q.codes.bytes()) + (q.scales.valid() ? double(q.scales.bytes()) : 0.0);
    double in_bytes = double(R * C * 4);
    const int reps = 3;
    cl.reset_timing();
    for (int i = 0; i < reps; ++i) cl.quantize_into(xb, q, qopts(true, packed));
    double qms = cl.timing().device_ms / reps;
    cl.reset_timing();
    for (int i = 0; i < reps; ++i) cl.dequantize_into(q, out);
    double dms = cl.timing().device_ms / reps;
    std::printf("[bench] %s on %s: quantize %.2f ms = %.2f GB/s (fp32 in + codes out), dequantize %.2f ms = "
                "%.2f GB/s\n",
                format_info(f).name, cl.device_info().name.c_str(), qms, (in_bytes + code_bytes) / qms / 1e6, dms,
                (in_bytes + code_bytes) / dms / 1e6);
  }
}

}  // namespace
