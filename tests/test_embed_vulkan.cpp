// test_embed_vulkan.cpp — lowbit on an application's own Vulkan device (Context::import_vulkan): every bad
// handle, missing feature, bad wrapped buffer and misuse of record mode is a clear error before anything is
// recorded; recorded ops run only when the application submits; wrapped buffers are read and written in
// place (at an offset too) and never freed. The application (tools/example_engine/app_vulkan) counts every
// validation message; any fails the test.
#include <gtest/gtest.h>
#include <vulkan/vulkan.h>

#include <unistd.h>

#include <bit>
#include <filesystem>
#include <cstring>
#include <functional>
#include <random>

#include "app_vulkan.hpp"
#include "lowbit/interop.hpp"
#include "lowbit_formats.h"
#include "support/backends.hpp"

using namespace lowbit;
using example::AppBuffer;
using example::AppVulkan;

namespace {

constexpr uint32_t kStorageAndCopies = kVkUsageStorage | kVkUsageTransferSrc | kVkUsageTransferDst;
constexpr VkBufferUsageFlags kAppUsage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

// The error of f (its code and message), or nothing.
struct Thrown {
  bool thrown = false;
  ErrorCode code = ErrorCode::Internal;
  std::string what;
};
Thrown thrown_by(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return {true, e.code(), e.what()};
  }
  return {};
}

#define EXPECT_LOWBIT_ERROR(stmt, want_code, text)                                            \
  do {                                                                                     \
    Thrown t_ = thrown_by([&] { stmt; });                                                  \
    EXPECT_TRUE(t_.thrown) << #stmt " did not throw";                                       \
    EXPECT_EQ(t_.code, (want_code)) << t_.what;                                             \
    EXPECT_NE(t_.what.find(text), std::string::npos) << "message: " << t_.what;             \
  } while (0)

class EmbedVulkan : public ::testing::Test {
 protected:
  void SetUp() override {
    LOWBIT_BACKEND_OR_SKIP(Backend::Vulkan);
    app_ = std::make_unique<AppVulkan>();
  }
  void TearDown() override {
    if (!app_) return;
    EXPECT_EQ(app_->validation_messages(), 0u) << (app_->message_texts().empty() ? "" : app_->message_texts()[0]);
    app_.reset();
  }
  std::unique_ptr<AppVulkan> app_;
};

std::vector<float> ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(i) * 0.25f - 3.0f;
  return v;
}

TEST_F(EmbedVulkan, NullHandlesAreNamed) {
  const VulkanImport good = app_->import_info();
  auto with = [&](auto change) {
    VulkanImport v = good;
    change(v);
    return v;
  };
  EXPECT_LOWBIT_ERROR(Context::import_vulkan(with([](VulkanImport& v) { v.instance = nullptr; })),
                      ErrorCode::InvalidArgument, "instance is null");
  EXPECT_LOWBIT_ERROR(Context::import_vulkan(with([](VulkanImport& v) { v.physical_device = nullptr; })),
                      ErrorCode::InvalidArgument, "physical_device is null");
  EXPECT_LOWBIT_ERROR(Context::import_vulkan(with([](VulkanImport& v) { v.device = nullptr; })),
                      ErrorCode::InvalidArgument, "device is null");
  EXPECT_LOWBIT_ERROR(Context::import_vulkan(with([](VulkanImport& v) { v.queue = nullptr; })),
                      ErrorCode::InvalidArgument, "queue is null");
  EXPECT_LOWBIT_ERROR(Context::import_vulkan(with([](VulkanImport& v) { v.enabled_features = nullptr; })),
                      ErrorCode::InvalidArgument, "enabled_features is null");
  EXPECT_LOWBIT_ERROR(Context::import_vulkan(with([](VulkanImport& v) { v.queue_family = 99; })),
                      ErrorCode::InvalidArgument, "queue_family 99 does not exist");
  EXPECT_LOWBIT_ERROR(Context::import_vulkan(with([](VulkanImport& v) { v.queue_lock = [](void*) {}; })),
                      ErrorCode::InvalidArgument, "queue_lock and queue_unlock must be given together");
}

TEST(EmbedVulkanDevice, MissingFeatureIsNamed) {
  LOWBIT_BACKEND_OR_SKIP(Backend::Vulkan);
  AppVulkan app(/*with_16bit_storage=*/false);
  EXPECT_LOWBIT_ERROR(Context::import_vulkan(app.import_info()), ErrorCode::Unsupported, "storageBuffer16BitAccess");
  EXPECT_EQ(app.validation_messages(), 0u);
}

TEST_F(EmbedVulkan, ImportedDeviceRunsOpsAndKeepsTheApplicationsObjects) {
  int locks = 0;
  VulkanImport v = app_->import_info();
  v.queue_lock = [](void* n) { ++*static_cast<int*>(n); };
  v.queue_unlock = [](void*) {};
  v.queue_lock_user = &locks;
  {
    Context ctx = Context::import_vulkan(v);
    EXPECT_EQ(ctx.backend(), Backend::Vulkan);
    auto x = ramp(1000);
    Buffer b = ctx.upload(DType::F32, {10, 100}, x.data(), x.size() * 4);
    QTensor q = ctx.quantize(b, Format::E4M3);
    std::vector<float> back = ctx.download<float>(ctx.dequantize(q));
    Context cpu = Context::create({.backend = Backend::CPU});
    EXPECT_EQ(back, cpu.download<float>(cpu.dequantize(cpu.quantize(cpu.upload(DType::F32, {10, 100}, x.data(), 4000), Format::E4M3))));
  }
  EXPECT_GT(locks, 0) << "lowbit submitted without the application's queue lock";
  // The device, queue and pool are still the application's and work after the Context is gone.
  VkCommandBuffer c = app_->begin_commands();
  app_->submit_and_wait(c);
}

// With the application's VkPipelineCache lowbit keeps no cache file of its own (without one it writes
// vk-pipelines-*.bin into the cache folder); the cache stays the application's to destroy. (lavapipe keeps
// nothing in a pipeline cache, so what went into it is not checked here.)
TEST_F(EmbedVulkan, WithTheApplicationsPipelineCacheNoCacheFileIsWritten) {
  VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  VkPipelineCache cache = VK_NULL_HANDLE;
  ASSERT_EQ(vkCreatePipelineCache(app_->device(), &ci, nullptr, &cache), VK_SUCCESS);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("lowbit_embed_" + std::to_string(getpid()));
  auto files_after_run = [&](uint64_t app_cache) {
    std::filesystem::remove_all(dir);
    {
      VulkanImport v = app_->import_info();
      v.pipeline_cache = app_cache;
      Context ctx = Context::import_vulkan(v, {.cache_dir = dir.string()});
      auto x = ramp(64);
      ctx.download<float>(ctx.dequantize(ctx.quantize(ctx.upload(DType::F32, {2, 32}, x.data(), 256), Format::MXFP8_E4M3)));
    }
    size_t n = 0;
    if (std::filesystem::exists(dir))
      for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
    return n;
  };
  EXPECT_EQ(files_after_run(vk_handle_bits(cache)), 0u);
  EXPECT_EQ(files_after_run(0), 1u);  // lowbit's own cache file, for contrast
  vkDestroyPipelineCache(app_->device(), cache, nullptr);
  std::filesystem::remove_all(dir);
}

TEST_F(EmbedVulkan, RecordIntoRejectsNullAndNesting) {
  Context ctx = Context::import_vulkan(app_->import_info());
  EXPECT_LOWBIT_ERROR(ctx.record_into(nullptr), ErrorCode::InvalidArgument, "command buffer is null");
  VkCommandBuffer c = app_->begin_commands();
  {
    Recording r = ctx.record_into(c);
    EXPECT_TRUE(r.open());
    EXPECT_LOWBIT_ERROR(ctx.record_into(c), ErrorCode::InvalidArgument, "already recording");
  }
  app_->submit_and_wait(c);
  Context cpu = Context::create({.backend = Backend::CPU});
  EXPECT_LOWBIT_ERROR(cpu.record_into(reinterpret_cast<VkCommandBuffer>(c)), ErrorCode::Unsupported, "Vulkan context");
}

TEST_F(EmbedVulkan, WaitingOrDownloadingWhileRecordingIsUnsupported) {
  Context ctx = Context::import_vulkan(app_->import_info());
  auto x = ramp(64);
  Buffer b = ctx.upload(DType::F32, {64}, x.data(), 256);
  VkCommandBuffer c = app_->begin_commands();
  Recording r = ctx.record_into(c);
  EXPECT_LOWBIT_ERROR(ctx.download<float>(b), ErrorCode::Unsupported, "download");
  EXPECT_LOWBIT_ERROR(ctx.wait(), ErrorCode::Unsupported, "wait");
  EXPECT_LOWBIT_ERROR(ctx.timing(), ErrorCode::Unsupported, "timing");
  std::vector<float> big(20000, 1.0f);  // 80 KB: more than vkCmdUpdateBuffer records inline
  EXPECT_LOWBIT_ERROR(ctx.upload(DType::F32, {20000}, big.data(), big.size() * 4), ErrorCode::Unsupported,
                      "upload before Context::record_into");
  r.end();
  app_->submit_and_wait(c);
  EXPECT_EQ(ctx.download<float>(b), x);  // after end(): the context's own queue again
}

TEST_F(EmbedVulkan, RecordedOpsRunOnlyWhenTheApplicationSubmits) {
  Context ctx = Context::import_vulkan(app_->import_info());
  auto x = ramp(256);
  Buffer src = ctx.upload(DType::F32, {256}, x.data(), x.size() * 4);
  Buffer dst = ctx.alloc(DType::F32, {256});
  QTensor q = ctx.alloc_qtensor(Format::MXFP4, {8, 32}, true);
  Buffer back = ctx.alloc(DType::F32, {8, 32});
  VkCommandBuffer c = app_->begin_commands();
  {
    Recording r = ctx.record_into(c);
    ctx.copy(src, dst);
    Buffer view = src.view(DType::F32, {8, 32});
    ctx.quantize_into(view, q);
    ctx.dequantize_into(q, back);
    r.end();
    EXPECT_EQ(ctx.download<float>(dst), std::vector<float>(256, 0.0f)) << "the recorded copy ran before the submit";
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_MEMORY_READ_BIT;
    vkCmdPipelineBarrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
    app_->submit_and_wait(c);
  }
  EXPECT_EQ(ctx.download<float>(dst), x);
  // lowbit's own next work reads what the recording wrote (ordered by the barrier its next batch starts with).
  Buffer again = ctx.alloc(DType::F32, {256});
  ctx.copy(dst, again);
  EXPECT_EQ(ctx.download<float>(again), x);
  Context cpu = Context::create({.backend = Backend::CPU});
  Buffer cx = cpu.upload(DType::F32, {8, 32}, x.data(), x.size() * 4);
  EXPECT_EQ(ctx.download<float>(back), cpu.download<float>(cpu.dequantize(cpu.quantize(cx, Format::MXFP4, {.packed = true}))));
}

// A result dropped while its recorded GEMM has not run yet keeps its memory until the Recording goes: lowbit's
// own later GEMMs (whose pool would otherwise hand that memory out again) are not overwritten when the
// application finally submits.
TEST_F(EmbedVulkan, MemoryOfARecordingIsHeldUntilTheRecordingIsReleased) {
  Context ctx = Context::import_vulkan(app_->import_info());
  const int64_t m = 1, k = 64, n = 32;
  std::vector<float> wf(size_t(n * k));
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = float(int(i % 13) - 6) / 16.0f;
  W4Layer w = ctx.upload_w4(quantize_w4_rtn(wf.data(), n, k, 32, true));
  auto activations = [&](float v) {
    std::vector<uint16_t> h(size_t(m * k), uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(v))));
    return ctx.upload(DType::F16, {m, k}, h.data(), h.size() * 2);
  };
  Buffer x1 = activations(1.0f), x2 = activations(-2.0f);
  std::vector<float> want = ctx.download<float>(ctx.gemm_w4a16(x2, w, {.out = DType::F32}));
  VkCommandBuffer c = app_->begin_commands();
  Recording r = ctx.record_into(c);
  ctx.gemm_w4a16(x1, w, {.out = DType::F32});  // its result is dropped at once
  r.end();
  ctx.gemm_w4a16(x2, w, {.out = DType::F32});  // lowbit's own work: its batch completes...
  ctx.wait();
  Buffer y2 = ctx.gemm_w4a16(x2, w, {.out = DType::F32});  // ...so a released buffer could be handed out here
  ctx.wait();
  app_->submit_and_wait(c);  // the recorded GEMM runs now
  EXPECT_EQ(ctx.download<float>(y2), want) << "the recording's result landed in memory lowbit had reused";
}

TEST_F(EmbedVulkan, WrappedBufferBadInputs) {
  Context ctx = Context::import_vulkan(app_->import_info());
  AppBuffer a = app_->create_buffer(1024, kAppUsage);
  const uint64_t h = vk_handle_bits(a.buffer);
  EXPECT_LOWBIT_ERROR(ctx.wrap_vulkan_buffer(0, 0, 1024, kStorageAndCopies, DType::F32, {4}), ErrorCode::InvalidArgument,
                      "VkBuffer is null");
  EXPECT_LOWBIT_ERROR(ctx.wrap_vulkan_buffer(h, 0, 1024, kVkUsageTransferDst, DType::F32, {4}),
                      ErrorCode::InvalidArgument, "VK_BUFFER_USAGE_STORAGE_BUFFER_BIT");
  EXPECT_LOWBIT_ERROR(ctx.wrap_vulkan_buffer(h, 0, 1024, kStorageAndCopies, DType::F32, {300}),
                      ErrorCode::InvalidArgument, "the tensor needs 1200");
  EXPECT_LOWBIT_ERROR(ctx.wrap_vulkan_buffer(h, 0, 8, kStorageAndCopies, DType::F32, {2}), ErrorCode::InvalidArgument,
                      "rounded up to 16");
  EXPECT_LOWBIT_ERROR(ctx.wrap_vulkan_buffer(h, 512, 1 << 20, kStorageAndCopies, DType::F32, {4}),
                      ErrorCode::InvalidArgument, "ends past the VkBuffer");
  EXPECT_LOWBIT_ERROR(ctx.wrap_vulkan_buffer(h, 3, 512, kStorageAndCopies, DType::F32, {4}),
                      ErrorCode::InvalidArgument, "minStorageBufferOffsetAlignment");
  // Storage only: lowbit's shaders may use it, but an upload (a transfer into it) is refused by name.
  Buffer storage_only = ctx.wrap_vulkan_buffer(h, 0, 1024, kVkUsageStorage, DType::F32, {4});
  float four[4] = {1, 2, 3, 4};
  Buffer staged;
  EXPECT_LOWBIT_ERROR(ctx.copy(ctx.upload(DType::F32, {4}, four, 16), storage_only), ErrorCode::InvalidArgument,
                      "VK_BUFFER_USAGE_TRANSFER_DST_BIT");
  // ... also when the transfer comes inside an op (NVFP4's tensor scale is filled first): the op fails whole and
  // the context goes on (its timing included).
  QTensor q = ctx.alloc_qtensor(Format::NVFP4, {1, 16}, true);
  q.tensor_scale = ctx.wrap_vulkan_buffer(h, 0, 1024, kVkUsageStorage, DType::F32, {1});
  std::vector<float> sixteen(16, 1.0f);
  EXPECT_LOWBIT_ERROR(ctx.quantize_into(ctx.upload(DType::F32, {1, 16}, sixteen.data(), 64), q,
                                        {.nvfp4_tensor_scale = 1.0f}),
                      ErrorCode::InvalidArgument, "VK_BUFFER_USAGE_TRANSFER_DST_BIT");
  EXPECT_GE(ctx.timing().device_ms, 0.0);
  Context cpu = Context::create({.backend = Backend::CPU});
  EXPECT_LOWBIT_ERROR(cpu.wrap_vulkan_buffer(h, 0, 1024, kStorageAndCopies, DType::F32, {4}), ErrorCode::Unsupported,
                      "not Vulkan");
  ctx.wait();
  app_->destroy(a);
}

TEST_F(EmbedVulkan, WrappedBuffersAreUsedInPlaceAtAnOffsetAndNeverFreed) {
  Context ctx = Context::import_vulkan(app_->import_info());
  // x fp16 [3, 40] at offset 256 of the application's buffer, y written into another of its buffers.
  const int64_t m = 3, k = 40, n = 24;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  std::vector<uint16_t> x(size_t(m * k));
  for (auto& v : x) v = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(nd(rng))));
  std::vector<float> wf(size_t(n * k));
  for (auto& v : wf) v = nd(rng);
  W4Host w = quantize_w4_rtn(wf.data(), n, k, 8, true);
  AppBuffer in = app_->create_buffer(4096, kAppUsage);
  std::memcpy(static_cast<uint8_t*>(in.mapped) + 256, x.data(), x.size() * 2);
  Buffer xb = ctx.wrap_vulkan_buffer(vk_handle_bits(in.buffer), 256, 4096 - 256, kStorageAndCopies, DType::F16, {m, k});
  EXPECT_EQ(ctx.vulkan_buffer(xb).offset, 256u);
  Buffer y = ctx.gemm_w4a16(xb, ctx.upload_w4(w), {.out = DType::F32});
  AppBuffer out = app_->create_buffer(1024, kAppUsage);
  Buffer ob = ctx.wrap_vulkan_buffer(vk_handle_bits(out.buffer), 0, 1024, kStorageAndCopies, DType::F32, {m, n});
  ctx.copy(y, ob);
  ctx.wait();
  Context cpu = Context::create({.backend = Backend::CPU});
  std::vector<float> want = cpu.download<float>(
      cpu.gemm_w4a16(cpu.upload(DType::F16, {m, k}, x.data(), x.size() * 2), cpu.upload_w4(w), {.out = DType::F32}));
  std::vector<float> got(size_t(m * n));
  std::memcpy(got.data(), out.mapped, got.size() * 4);  // written in place, in the application's memory
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-3f * (1 + std::fabs(want[i]))) << i;
  EXPECT_EQ(ctx.download<float>(ob), got);
  xb = Buffer();
  ob = Buffer();
  // Dropping the wrappers freed nothing: the application's buffer still holds its data and can be used.
  EXPECT_EQ(std::memcmp(static_cast<uint8_t*>(in.mapped) + 256, x.data(), x.size() * 2), 0);
  VkCommandBuffer c = app_->begin_commands();
  vkCmdFillBuffer(c, out.buffer, 0, VK_WHOLE_SIZE, 0);
  app_->submit_and_wait(c);
  app_->destroy(in);
  app_->destroy(out);
}

}  // namespace
