// test_resource_failures.cpp — what a user sees when resources fail, on every backend: a device memory
// limit (ContextOptions::device_memory_limit / LOWBIT_DEVICE_MEMORY_LIMIT) refused with OutOfMemory that
// names the size and what is alive, after which the context still works; an injected lost device
// (test_device_lost_at) gives DeviceLost, then DeviceLost from every call, and a clean destruction; and
// a Vulkan context destroyed while its work runs past the wait leaks the device instead of hanging.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backend/device.hpp"
#include "host/internal_access.hpp"
#include "support/backends.hpp"
#include "support/random_inputs.hpp"
#include "support/scoped_env.hpp"

using namespace lowbit;

namespace {

constexpr uint64_t kMiB = uint64_t(1) << 20;

Context create(Backend b, ContextOptions o) {
  o.backend = b;
  return Context::create(o);
}

// Y = X · Wᵀ of a small int4 layer on `ctx`, fp32 out.
std::vector<float> small_gemm(Context& ctx) {
  W4Host h = test::random_w4_layer(96, 512, 128, 5);
  auto x = test::random_f16_normal(3 * 512, 6);
  W4Layer l = ctx.upload_w4(h);
  Buffer xb = ctx.upload(DType::F16, {3, 512}, x.data(), x.size() * 2);
  return ctx.download<float>(ctx.gemm_w4a16(xb, l, {.out = DType::F32}));
}

// Equal within fp32 rounding of differently ordered sums (another backend's result).
void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  float peak = 0;
  for (float v : want) peak = std::max(peak, std::fabs(v));
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4f * peak + 1e-6f) << "element " << i;
}

// The error a call throws (or none).
std::optional<Error> error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

class ResourceFailures : public ::testing::TestWithParam<Backend> {};

// Fill to the limit with 1 MiB buffers: the next one fails with OutOfMemory naming its size and what is
// alive; after freeing some, allocations succeed again and a GEMM gives the result an unlimited context
// gives (bit for bit: same backend, same launch).
TEST_P(ResourceFailures, MemoryLimitRefusesThenRecoversAfterFree) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  Context plain = create(GetParam(), {});
  const std::vector<float> want = small_gemm(plain);

  Context ctx = create(GetParam(), {.device_memory_limit = 16 * kMiB});
  std::vector<Buffer> held;
  std::optional<Error> err;
  for (int i = 0; i < 64 && !err; ++i) {
    err = error_of([&] { held.push_back(ctx.alloc(DType::U8, {int64_t(kMiB)})); });
  }
  ASSERT_TRUE(err) << "16 MiB limit never reached with 64 MiB of buffers";
  EXPECT_EQ(err->code(), ErrorCode::OutOfMemory) << err->what();
  const std::string msg = err->what();
  EXPECT_NE(msg.find(std::to_string(kMiB)), std::string::npos) << "names the size: " << msg;
  EXPECT_NE(msg.find("alive"), std::string::npos) << "names what is alive: " << msg;
  EXPECT_NE(msg.find("16777216"), std::string::npos) << "names the limit: " << msg;
  EXPECT_GE(held.size(), 14u);
  EXPECT_LE(lowbit::detail::device_of(ctx).stats().memory_bytes, 16 * kMiB);

  held.resize(held.size() - 4);  // free 4 MiB
  EXPECT_NO_THROW(held.push_back(ctx.alloc(DType::U8, {int64_t(kMiB)})));
  held.resize(held.size() / 2);
  EXPECT_EQ(small_gemm(ctx), want);
  held.clear();
  test::expect_clean(ctx);
}

// Op results and split-K partials wait in the pool after release; they count against the limit, and an
// allocation that needs their memory gets it (idle pooled buffers are freed first).
TEST_P(ResourceFailures, MemoryLimitFreesIdlePooledBuffersBeforeRefusing) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  Context ctx = create(GetParam(), {.device_memory_limit = 24 * kMiB});
  const int64_t n = 1024, k = 1024, m = 64;
  auto w = test::random_f16_normal(size_t(n * k), 1, 0.05f);
  auto x = test::random_f16_normal(size_t(m * k), 2);
  Buffer wb = ctx.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
  Buffer xb = ctx.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
  for (int split : {1, 2, 3, 4}) ctx.download<float>(ctx.gemm_f16(xb, wb, {}, {.out = DType::F32, .split_k = split}));
  const uint64_t in_use = lowbit::detail::device_of(ctx).stats().memory_bytes;
  const uint64_t room = 24 * kMiB - in_use;
  Buffer big;
  EXPECT_NO_THROW(big = ctx.alloc(DType::U8, {int64_t(24 * kMiB - 2 * w.size() - 2 * x.size() - kMiB)}))
      << in_use << " bytes in use, " << room << " free";
  test::expect_clean(ctx);
}

TEST_P(ResourceFailures, MemoryLimitFromEnvironment) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  {
    test::ScopedEnv env("LOWBIT_DEVICE_MEMORY_LIMIT", "4194304");
    Context ctx = create(GetParam(), {});
    Buffer a = ctx.alloc(DType::U8, {int64_t(3 * kMiB)});
    auto e = error_of([&] { ctx.alloc(DType::U8, {int64_t(2 * kMiB)}); });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), ErrorCode::OutOfMemory);
  }
  test::ScopedEnv bad("LOWBIT_DEVICE_MEMORY_LIMIT", "lots");
  auto e = error_of([&] { create(GetParam(), {}); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), ErrorCode::InvalidArgument);
  EXPECT_NE(std::string(e->what()).find("LOWBIT_DEVICE_MEMORY_LIMIT"), std::string::npos) << e->what();
}

INSTANTIATE_TEST_SUITE_P(All, ResourceFailures, ::testing::ValuesIn(test::all_backends()), test::backend_param_name);

class OpScratchMemory : public ::testing::TestWithParam<Backend> {};

// An op whose own scratch (split-K partials) passes the limit fails with OutOfMemory before running;
// the context then runs the same GEMM without the split, and with it once memory is freed.
TEST_P(OpScratchMemory, LimitHitInsideAGemmLeavesTheContextUsable) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  const int64_t n = 1024, k = 1024, m = 64;
  auto w = test::random_f16_normal(size_t(n * k), 1, 0.05f);
  auto x = test::random_f16_normal(size_t(m * k), 2);
  Context plain = create(GetParam(), {});
  Buffer pw = plain.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
  Buffer px = plain.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
  const GemmOptions split4{.path = GemmPath::Tiled, .out = DType::F32, .split_k = 4};
  const auto want1 = plain.download<float>(plain.gemm_f16(px, pw, {}, {.path = GemmPath::Tiled, .out = DType::F32}));
  Buffer pw_half = plain.upload(DType::F16, {n / 2, k}, w.data(), w.size());
  const auto want_half4 = plain.download<float>(plain.gemm_f16(px, pw_half, {}, split4));

  // W, X and Y fit; 4 slices of fp32 partials (1 MiB) do not.
  Context ctx = create(GetParam(), {.device_memory_limit = 2 * w.size() + 2 * x.size() + 4 * uint64_t(m * n) + 576 * 1024});
  Buffer wb = ctx.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
  Buffer xb = ctx.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
  auto e = error_of([&] { ctx.download<float>(ctx.gemm_f16(xb, wb, {}, split4)); });
  ASSERT_TRUE(e) << "4 slices of partials fit the limit";
  EXPECT_EQ(e->code(), ErrorCode::OutOfMemory) << e->what();
  EXPECT_EQ(ctx.download<float>(ctx.gemm_f16(xb, wb, {}, {.path = GemmPath::Tiled, .out = DType::F32})), want1);
  wb = Buffer();  // frees 2 MiB: a split GEMM over half the columns fits
  Buffer wb2 = ctx.upload(DType::F16, {n / 2, k}, w.data(), w.size());
  EXPECT_EQ(ctx.download<float>(ctx.gemm_f16(xb, wb2, {}, split4)), want_half4);
  test::expect_clean(ctx);
}

INSTANTIATE_TEST_SUITE_P(Gpu, OpScratchMemory, ::testing::ValuesIn(test::gpu_backends()), test::backend_param_name);

class DeviceLoss : public ::testing::TestWithParam<Backend> {};

// The N-th submit / wait fails as a lost device: that call throws DeviceLost, every later call throws
// DeviceLost too (without waiting for anything), and the context is destroyed cleanly; a new context
// on the same device works.
TEST_P(DeviceLoss, InjectedLossMakesEveryLaterCallThrowDeviceLost) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  W4Host h = test::random_w4_layer(64, 256, 128, 3);
  auto x = test::random_f16_normal(2 * 256, 4);
  for (uint64_t at : {1, 2, 3, 5}) {
    SCOPED_TRACE("test_device_lost_at = " + std::to_string(at));
    Context ctx = create(GetParam(), {.test_device_lost_at = at});
    std::optional<Error> lost;
    for (int step = 0; step < 8 && !lost; ++step) {
      lost = error_of([&] {
        W4Layer l = ctx.upload_w4(h);
        Buffer xb = ctx.upload(DType::F16, {2, 256}, x.data(), x.size() * 2);
        Buffer y = ctx.gemm_w4a16(xb, l);
        ctx.submit();
        ctx.download<uint16_t>(y);
      });
    }
    ASSERT_TRUE(lost) << "no DeviceLost within 8 rounds";
    EXPECT_EQ(lost->code(), ErrorCode::DeviceLost) << lost->what();
    EXPECT_NE(std::string(lost->what()).find("injected"), std::string::npos) << lost->what();
    const std::vector<std::pair<const char*, std::function<void()>>> calls = {
        {"alloc", [&] { ctx.alloc(DType::F16, {4}); }},
        {"upload", [&] { ctx.upload(DType::F16, {2, 256}, x.data(), x.size() * 2); }},
        {"upload_w4", [&] { ctx.upload_w4(h); }},
        {"submit", [&] { ctx.submit(); }},
        {"wait", [&] { ctx.wait(); }},
        {"timing", [&] { ctx.timing(); }},
        {"create_kv_cache", [&] { ctx.create_kv_cache({.num_pages = 4, .kv_heads = 1, .head_dim = 64}); }},
    };
    for (const auto& [name, call] : calls) {
      auto e = error_of(call);
      ASSERT_TRUE(e) << name << " did not throw on a lost device";
      EXPECT_EQ(e->code(), ErrorCode::DeviceLost) << name << ": " << e->what();
    }
  }
  Context fresh = create(GetParam(), {});
  Context cpu = create(Backend::CPU, {});
  expect_close(small_gemm(fresh), small_gemm(cpu));
  test::expect_clean(fresh);
}

INSTANTIATE_TEST_SUITE_P(Gpu, DeviceLoss, ::testing::ValuesIn(test::gpu_backends()), test::backend_param_name);

// A context destroyed while its queued work runs longer than the destroy wait (here 1 ms, through the
// test-only LOWBIT_TEST_VK_DESTROY_WAIT_MS) abandons (leaks) its device rather than hang or free memory
// the work still uses; the process goes on and a new context works.
TEST(VulkanDestroy, WorkStillRunningAtDestructionLeaksTheDeviceInsteadOfHanging) {
  LOWBIT_BACKEND_OR_SKIP(Backend::Vulkan);
  const uint64_t before = detail::vulkan_abandoned_devices();
  {
    test::ScopedEnv wait("LOWBIT_TEST_VK_DESTROY_WAIT_MS", "1");
    Context ctx = create(Backend::Vulkan, {});
    const int64_t m = 256, n = 1024, k = 2048;  // ~1 GFLOP: far more than 1 ms on any device we test on
    auto w = test::random_f16_normal(size_t(n * k), 1, 0.05f);
    auto x = test::random_f16_normal(size_t(m * k), 2);
    Buffer wb = ctx.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
    Buffer xb = ctx.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
    ctx.wait();
    for (int i = 0; i < 4; ++i) ctx.gemm_f16(xb, wb);
    ctx.submit();
  }  // destroyed with the GEMMs still running
  EXPECT_EQ(detail::vulkan_abandoned_devices(), before + 1);
  Context fresh = create(Backend::Vulkan, {});
  Context cpu = create(Backend::CPU, {});
  expect_close(small_gemm(fresh), small_gemm(cpu));
  test::expect_clean(fresh);
}

}  // namespace
