// test_vulkan_host.cpp — the Vulkan host's reliability guarantees on the real driver: a validation
// message raised while a Context is destroyed is counted (and would fail the test that caused it);
// uploads through staging memory never hold more than the staging limit; a wait longer than the
// timeout throws DeviceLost instead of hanging, and the lost Context still closes cleanly.
#include <gtest/gtest.h>
#include <vulkan/vulkan.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>

#include "backend/device.hpp"
#include "backend/kernels.hpp"
#include "backend/vulkan/spirv_bindings.hpp"
#include "host/internal_access.hpp"
#include "support/backends.hpp"
#include "support/scoped_env.hpp"
#include "support/validation_watch.hpp"

using namespace lowbit;
using test::ScopedEnv;

namespace {

#define VULKAN_OR_SKIP() LOWBIT_BACKEND_OR_SKIP(Backend::Vulkan)

Context vulkan_context(const ContextOptions& extra = {}) {
  ContextOptions o = extra;
  o.backend = Backend::Vulkan;
  return Context::create(o);
}

bool validation_on() {
  const char* v = std::getenv("LOWBIT_VK_VALIDATION");
  return v && *v && std::strcmp(v, "0") != 0;
}

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no lowbit::Error thrown";
  return ErrorCode::Internal;
}

// ---- validation messages ---------------------------------------------------------------------------

TEST(VulkanHost, ValidationMessageRaisedWhileAContextIsDestroyedIsCounted) {
  VULKAN_OR_SKIP();
  if (!validation_on()) GTEST_SKIP() << "needs LOWBIT_VK_VALIDATION=1 (CTest sets it)";
  uint64_t before = validation_message_count();
  {
    Context vk = vulkan_context();
    // A real misuse the layer reports only at vkDestroyDevice: a buffer left alive on the device.
    auto dev = static_cast<VkDevice>(detail::device_of(vk).native_handle());
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = 256;
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    VkBuffer leaked = VK_NULL_HANDLE;
    ASSERT_EQ(vkCreateBuffer(dev, &bi, nullptr, &leaked), VK_SUCCESS);
    EXPECT_EQ(validation_message_count(), before) << "nothing is wrong before the context goes away";
    test::expect_clean(vk);  // the context's own list cannot show what comes at its destruction
  }
  EXPECT_GT(validation_message_count(), before);
  // What the listener of support/main.cpp would report for this test:
  std::string report = test::validation_failure_since(before);
  EXPECT_NE(report.find("VkBuffer"), std::string::npos) << report;
  EXPECT_NE(report.find("has not been destroyed"), std::string::npos) << report;
  test::accept_validation_messages();  // provoked on purpose: do not fail this test
}

// ---- staging limit -------------------------------------------------------------------------------------

TEST(VulkanHost, StagedUploadsNeverHoldMoreThanTheStagingLimit) {
  VULKAN_OR_SKIP();
  ScopedEnv staging("LOWBIT_VK_FORCE_STAGING", "1");  // device memory the host cannot map, like VRAM
  constexpr uint64_t kLimit = 1 << 20;
  ContextOptions o;
  o.staging_limit = kLimit;
  Context vk = vulkan_context(o);
  std::mt19937 rng(3);
  std::vector<std::vector<uint32_t>> data;
  std::vector<Buffer> bufs;
  uint64_t total = 0;
  for (int i = 0; i < 40; ++i) {  // 40 uploads of ~300 KiB, then one of 2.5x the limit (split up)
    size_t words = i < 40 - 1 ? (300 << 10) / 4 + 7 * i : kLimit * 5 / 8;
    auto& d = data.emplace_back(words);
    for (auto& w : d) w = rng();
    bufs.push_back(vk.upload(DType::U32, {int64_t(words)}, d.data(), words * 4));
    total += words * 4;
  }
  ASSERT_GT(total, 10 * kLimit);
  for (size_t i = 0; i < bufs.size(); ++i) EXPECT_EQ(vk.download<uint32_t>(bufs[i]), data[i]) << "buffer " << i;
  detail::DeviceStats st = detail::device_of(vk).stats();
  EXPECT_GT(st.staging_peak_bytes, 0u);
  EXPECT_LE(st.staging_peak_bytes, kLimit) << "uploads of " << total << " bytes";
  EXPECT_GT(st.staging_flushes, 0u);
  test::expect_clean(vk);
}

TEST(VulkanHost, StagingLimitAndTimeoutSettingsAreChecked) {
  VULKAN_OR_SKIP();
  ContextOptions tiny;
  tiny.staging_limit = 1000;
  EXPECT_EQ(code_of([&] { vulkan_context(tiny); }), ErrorCode::InvalidArgument);
  {
    ScopedEnv bad("LOWBIT_VK_TIMEOUT_MS", "soon");
    EXPECT_EQ(code_of([&] { vulkan_context(); }), ErrorCode::InvalidArgument);
  }
  {
    ScopedEnv bad("LOWBIT_VK_STAGING_LIMIT", "-5");
    EXPECT_EQ(code_of([&] { vulkan_context(); }), ErrorCode::InvalidArgument);
  }
}

// ---- timeouts --------------------------------------------------------------------------------------------

TEST(VulkanHost, AWaitPastTheTimeoutThrowsDeviceLostAndTheContextStillClosesCleanly) {
  VULKAN_OR_SKIP();
  ContextOptions o;
  o.timeout_ms = 1;
  Context vk = vulkan_context(o);
  // An fp16 GEMM far longer than 1 ms: about a second on lavapipe, milliseconds on a big GPU.
  bool cpu_device = vk.device_info().type == "cpu";
  int64_t m = cpu_device ? 64 : 4096, n = cpu_device ? 2048 : 8192, k = n;
  std::vector<uint16_t> x(size_t(m * k), 0x3C00), w(size_t(n * k), 0x2C00);  // 1.0, 0.0625
  // The uploads are inside too: on a GPU the 128 MiB of staged weights alone may take over 1 ms (seen
  // on an H100), and any wait past the limit must end the same way.
  Buffer xb, wb;
  std::vector<uint16_t> one(64, 0x3C00);
  Buffer xs = vk.upload(DType::F16, {1, 8}, one.data(), 16), ws = vk.upload(DType::F16, {8, 8}, one.data(), 128);
  std::string what;
  try {
    xb = vk.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
    wb = vk.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
    Buffer y = vk.gemm_f16(xb, wb);
    vk.download<uint16_t>(y);
    ADD_FAILURE() << "the GEMM finished within 1 ms";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::DeviceLost) << e.what();
    what = e.what();
  }
  EXPECT_NE(what.find("within 1 ms"), std::string::npos) << what;
  // The context stays lost: later calls throw at once instead of waiting again.
  EXPECT_EQ(code_of([&] { vk.wait(); }), ErrorCode::DeviceLost);
  EXPECT_EQ(code_of([&] { vk.gemm_f16(xs, ws); }), ErrorCode::DeviceLost);
  test::expect_clean(vk);
  // Leaving the test destroys vk: it waits (bounded) for the GEMM still running, then frees everything;
  // a validation message there would fail this test through the listener.
}

// ---- command-buffer ring -------------------------------------------------------------------------------

TEST(VulkanHost, TheStreamRecyclesItsCommandBuffersWithoutWaitingForAllWork) {
  VULKAN_OR_SKIP();
  Context vk = vulkan_context();
  std::vector<uint32_t> data(4096);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint32_t(i * 2654435761u);
  Buffer a = vk.upload(DType::U32, {4096}, data.data(), data.size() * 4);
  Buffer b = vk.alloc(DType::U32, {4096});
  vk.wait();
  detail::DeviceStats before = detail::device_of(vk).stats();
  // 300 timed ops in one batch (more than the timestamp queries of one ring turn), then 300 batches of one
  // op each (many more than the batches the stream keeps in flight): each copy reads what the last wrote.
  for (int i = 0; i < 600; ++i) {
    if (i % 2 == 0) vk.copy(a, b);
    else vk.copy(b, a);
    if (i >= 300) vk.submit();
  }
  detail::DeviceStats after = detail::device_of(vk).stats();
  EXPECT_EQ(after.full_waits, before.full_waits) << "the stream drained all work to go on";
  EXPECT_LE(after.command_buffers, 17u) << "command buffers are recycled through a ring";
  EXPECT_EQ(vk.download<uint32_t>(a), data);
  test::expect_clean(vk);
}

// ---- read-only bindings -------------------------------------------------------------------------------

std::vector<uint32_t> embedded_spirv(const char* name) {
  auto bytes = detail::embedded_file(name);
  std::vector<uint32_t> words(bytes.size() / 4);
  std::memcpy(words.data(), bytes.data(), words.size() * 4);
  return words;
}

// The reflection behind the stream's check that no dispatch marks a read-only binding as written (every
// Vulkan op test runs with that check on).
TEST(VulkanHost, ReadOnlyBindingsAreReadOffTheShaders) {
  // gemm_common.glsl: X, W, scales, zeros, bias readonly; Y written.
  EXPECT_EQ(detail::vk::spirv_readonly_bindings(embedded_spirv("gemm_gemv.spv"), 6),
            (std::vector<bool>{true, true, true, true, true, false}));
  EXPECT_EQ(detail::vk::spirv_readonly_bindings(embedded_spirv("gemm_reduce.spv"), 6),
            (std::vector<bool>{true, true, true, true, true, false}));
  // gather.comp: x, perm read; out written. A binding the shader does not declare counts as read-only.
  EXPECT_EQ(detail::vk::spirv_readonly_bindings(embedded_spirv("gather.spv"), 4),
            (std::vector<bool>{true, true, false, true}));
  std::vector<uint32_t> junk = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(code_of([&] { detail::vk::spirv_readonly_bindings(junk, 1); }), ErrorCode::Internal);
}

}  // namespace
