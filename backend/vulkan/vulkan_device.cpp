// vulkan_device.cpp — the Vulkan backend's op table (detail::Device): wires instance, device, memory,
// pipelines, stream and kernels together; plus the factory and probe_vulkan().
#include <algorithm>
#include <atomic>
#include <map>
#include <cmath>
#include <cstdlib>
#include <random>
#include <tuple>
#include <cstdio>
#include <cstring>

#include "backend/device.hpp"
#include "backend/memory_budget.hpp"
#include "backend/vulkan/vk_act_quant.hpp"
#include "backend/vulkan/vk_convert.hpp"
#include "backend/vulkan/vk_copy.hpp"
#include "backend/vulkan/vk_first_use.hpp"
#include "backend/vulkan/vk_prefill_check.hpp"
#include "backend/vulkan/vk_attention.hpp"
#include "backend/vulkan/vk_gemm.hpp"
#include "backend/vulkan/vk_gemm_w4a8.hpp"
#include "backend/vulkan/vk_settings.hpp"
#include "host/log.hpp"

namespace lowbit::detail {

namespace {

std::atomic<uint64_t> abandoned_devices{0};  // contexts whose destruction leaked their device

using namespace vk;

bool validation_requested() {
  const char* v = std::getenv("LOWBIT_VK_VALIDATION");
  return v && *v && std::strcmp(v, "0") != 0;
}

class VulkanDevice final : public Device {
 public:
  explicit VulkanDevice(const ContextOptions& o) : settings_(settings_from(o)) {
    instance_ = std::make_shared<Instance>(validation_requested());
    auto pds = instance_->physical_devices();
    if (pds.empty()) throw Error(ErrorCode::NotFound, "vulkan: the driver reports no physical devices");
    std::vector<std::string> names;
    for (auto pd : pds) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties(pd, &p);
      names.push_back(p.deviceName);
    }
    size_t index = select_device(names, o.device, Backend::Vulkan);
    gpu_ = std::make_shared<Gpu>(instance_, pds[index], int(index));
    build(o, VK_NULL_HANDLE);
  }

  // On the application's device (Context::import_vulkan): lowbit's own objects on it, nothing of the app's.
  VulkanDevice(const VulkanImport& app, const ContextOptions& o) : settings_(settings_from(o)) {
    uint32_t loader = VK_API_VERSION_1_2;
    vkEnumerateInstanceVersion(&loader);
    instance_ = std::make_shared<Instance>(app.instance, std::min<uint32_t>(loader, VK_API_VERSION_1_3));
    gpu_ = std::make_shared<Gpu>(instance_, app);
    build(o, vk_handle_from_bits<VkPipelineCache>(app.pipeline_cache));
  }

  ~VulkanDevice() override {
    if (!stream_->drain(settings_.destroy_wait_ms())) {
      log().error("vulkan: queued work on '{}' did not finish within {} ms of destroying its context; its device "
                  "and memory are abandoned (leaked), not freed under running work",
                  gpu_->info().name, settings_.destroy_wait_ms());
      abandon();
      abandoned_devices.fetch_add(1);
      return;
    }
    allocator_->set_completed(UINT64_MAX);  // no stream any more: buffers that die later free at once
  }

  const DeviceInfo& info() const override { return gpu_->info(); }

  // ---- embedding (lowbit/interop.hpp) ----
  uint64_t begin_recording(void* command_buffer) override {
    const uint64_t id = ++recordings_;
    allocator_->hold_recording(id);
    try {
      stream_->begin_external(static_cast<VkCommandBuffer>(command_buffer), id);
    } catch (...) {
      allocator_->release_recording(id);
      throw;
    }
    return id;
  }
  void end_recording(uint64_t) override { stream_->end_external(); }
  void release_recording(uint64_t id) noexcept override {
    try {
      stream_->release_external(id);
    } catch (const std::exception& e) {
      log().error("vulkan: releasing a recording: {}", e.what());
    }
    allocator_->release_recording(id);
  }
  VulkanBufferRef vulkan_buffer(const DeviceBuffer& b) const override {
    auto& vb = static_cast<const VulkanBuffer&>(b);
    return {vk_handle_bits(vb.handle()), vb.base_offset(), vb.capacity()};
  }
  std::shared_ptr<DeviceBuffer> wrap_vulkan(uint64_t buffer, uint64_t offset, uint64_t range, uint32_t usage,
                                            size_t bytes) override {
    auto bad = [](const std::string& s) { throw Error(ErrorCode::InvalidArgument, "wrap_vulkan_buffer: " + s); };
    if (!(usage & VK_BUFFER_USAGE_STORAGE_BUFFER_BIT))
      bad("the VkBuffer's usage 0x" + hex(usage) + " lacks VK_BUFFER_USAGE_STORAGE_BUFFER_BIT (0x20): lowbit's "
          "shaders bind it as a storage buffer");
    const uint64_t align = gpu_->limits().minStorageBufferOffsetAlignment;
    if (align && offset % align)
      bad("offset " + std::to_string(offset) + " is not a multiple of minStorageBufferOffsetAlignment (" +
          std::to_string(align) + ")");
    const uint64_t need = (std::max<uint64_t>(bytes, 1) + 15) / 16 * 16;  // kernels touch whole words
    if (range < need)
      bad("the range holds " + std::to_string(range) + " bytes, the tensor needs " + std::to_string(need) + " (its " +
          std::to_string(bytes) + " bytes rounded up to 16: kernels access whole words)");
    // Vulkan cannot report a buffer's size; its memory requirement is at least that size, so a range past it
    // is certainly out of the buffer.
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(gpu_->device(), vk_handle_from_bits<VkBuffer>(buffer), &req);
    if (offset > req.size || range > req.size - offset)
      bad("offset " + std::to_string(offset) + " + range " + std::to_string(range) + " ends past the VkBuffer (its "
          "memory requirement is " + std::to_string(req.size) + " bytes)");
    return std::make_shared<VulkanBuffer>(vk_handle_from_bits<VkBuffer>(buffer), offset, range, bytes, usage);
  }

  // Short of memory: finish the queued work (retired buffers free), drop idle pooled buffers, try again.
  std::shared_ptr<DeviceBuffer> alloc(size_t bytes) override {
    return allocate_or_reclaim([&] { return allocator_->create(bytes, MemoryUse::Device); }, [&] { reclaim(); });
  }
  std::shared_ptr<DeviceBuffer> alloc_pooled(size_t bytes) override {
    return allocate_or_reclaim([&] { return allocator_->create_pooled(bytes); }, [&] { reclaim(); });
  }
  std::string lost_reason() const override { return stream_->lost_reason(); }

  void write(DeviceBuffer& b, size_t offset, const void* src, size_t bytes) override {
    auto& vb = static_cast<VulkanBuffer&>(b);
    if (!bytes) return;
    if (stream_->external()) {  // record mode: the data goes into the command buffer, in order with the ops
      stream_->update(vb, offset, src, bytes);
      return;
    }
    if (uint8_t* p = vb.host_ptr()) {
      if (stream_->busy(vb)) stream_->wait();  // queued work still reads or writes it
      std::memcpy(p + offset, src, bytes);
      return;
    }
    // Through staging buffers, freed once their copies complete; past the staging limit the queued
    // copies are waited for first, so a large upload never holds more than the limit on the host side.
    const auto* from = static_cast<const uint8_t*>(src);
    for (size_t done = 0; done < bytes;) {
      size_t n = std::min<size_t>(bytes - done, staging_chunk());
      if (allocator_->staging_bytes() + n + kStagingSlack > settings_.staging_limit) {
        ++staging_flushes_;
        stream_->wait();
      }
      auto staging = allocator_->create(n, MemoryUse::Staging);
      std::memcpy(staging->mapped_ptr(), from + done, n);
      stream_->copy(*staging, 0, vb, offset + done, n);
      done += n;
    }
  }

  void read(const DeviceBuffer& b, size_t offset, void* dst, size_t bytes) override {
    auto& vb = static_cast<const VulkanBuffer&>(b);
    stream_->require_own_queue("download");
    stream_->wait();
    if (!bytes) return;
    if (const uint8_t* p = vb.host_ptr()) {
      std::memcpy(dst, p + offset, bytes);
      return;
    }
    auto* to = static_cast<uint8_t*>(dst);
    for (size_t done = 0; done < bytes;) {
      size_t n = std::min<size_t>(bytes - done, staging_chunk());
      auto staging = allocator_->create(n, MemoryUse::Staging);
      stream_->copy(vb, offset + done, *staging, 0, n);
      stream_->wait();
      std::memcpy(to + done, staging->mapped_ptr(), n);
      done += n;
    }
  }

  void submit() override {
    stream_->require_own_queue("submit");
    stream_->submit();
  }
  void wait() override {
    stream_->require_own_queue("wait");
    stream_->wait();
  }
  void reset_timing() override {
    stream_->require_own_queue("reset_timing");
    stream_->reset_timing();
  }
  double device_ms() override {
    stream_->require_own_queue("timing");
    return stream_->device_ms();
  }
  std::vector<std::string> diagnostics() const override { return instance_->diagnostics().all(); }
  DeviceStats stats() const override {
    return {allocator_->staging_peak(), staging_flushes_,          allocator_->buffers_created(),
            allocator_->pool_hits(),    stream_->command_buffers(), stream_->full_waits(),
            allocator_->budget().live_bytes(), allocator_->budget().live_allocations()};
  }
  void* native_handle() const override { return gpu_->device(); }

  void quantize(const QuantizeArgs& a) override { convert_->quantize(a); }
  void dequantize(const DequantizeArgs& a) override { convert_->dequantize(a); }
  void copy(const CopyArgs& a) override {
    if (!a.bytes) return;
    copy_->copy(static_cast<const VulkanBuffer&>(*a.src), static_cast<VulkanBuffer&>(*a.dst), a.bytes);
  }
  void gemm(const GemmArgs& a) override {
    // The first cooperative-matrix GEMM is verified by downloads, which record mode cannot do: tiled until then.
    const bool unverified = stream_->external() && coopmat_state_ == FirstUse::Unchecked;
    if (a.path != GemmPath::CoopMatrix || (!unverified && coopmat_usable())) {
      last_launch_ = gemm_->gemm(a);
      return;
    }
    GemmArgs tiled = a;
    tiled.path = GemmPath::Tiled;
    last_launch_ = gemm_->gemm(tiled);
  }
  std::optional<DeviceProfile> launch_profile() const override { return device_profile(*gpu_); }
  bool supports(GemmPath p) const override { return p != GemmPath::CoopMatrix || (gpu_->coopmat() && coopmat_state_ != FirstUse::Failed); }
  void gemm_w4a8(const GemmW4A8Args& a) override { last_launch_ = w4a8_->gemm(a); }
  void gather_columns(const GatherArgs& a) override { gemm_->gather(a); }
  void quantize_activations_int8(const ActQuantArgs& a) override {
    record_act_quant(*gpu_, *pipelines_, *stream_, *dummy_, a);
  }
  void kv_append(const KvAppendArgs& a) override { attention_->kv_append(a); }
  void attention(const AttentionArgs& a) override {
    attention_->use_prefill_coopmat(!a.decode && prefill_coopmat_usable(a.kv.format, a.kv.head_dim));
    attention_->attention(a);
    last_attention_kernel_ = attention_->last_kernel();
  }

 private:
  // Alignment padding a staging buffer may add to its bytes (buffer and memory-type alignment).
  static constexpr uint64_t kStagingSlack = 4096;
  size_t staging_chunk() const { return size_t(settings_.staging_limit - kStagingSlack); }
  static std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%x", v);
    return buf;
  }

  // Everything on top of instance_ and gpu_ (both constructors).
  void build(const ContextOptions& o, VkPipelineCache app_cache) {
    allocator_ = std::make_shared<Allocator>(gpu_, settings_.staging_limit, o.device_memory_limit);
    pipelines_ = std::make_unique<Pipelines>(*gpu_, o.cache_dir, app_cache);
    stream_ = std::make_unique<Stream>(*gpu_, *allocator_, settings_.timeout_ms, o.test_device_lost_at);
    dummy_ = allocator_->create(16, MemoryUse::Device);
    convert_ = std::make_unique<ConvertKernels>(*gpu_, *pipelines_, *stream_, *dummy_);
    copy_ = std::make_unique<CopyKernel>(*gpu_, *pipelines_, *stream_);
    gemm_ = std::make_unique<GemmKernels>(*gpu_, *pipelines_, *stream_, *allocator_, *dummy_);
    w4a8_ = std::make_unique<W4A8Kernels>(*gpu_, *pipelines_, *stream_, *allocator_, *dummy_);
    attention_ = std::make_unique<AttentionKernels>(*gpu_, *pipelines_, *stream_, *allocator_, *dummy_);
  }

  void reclaim() {
    stream_->wait();
    allocator_->release_idle();
  }

  // Keeps every member alive for good: work still running on the device may use any of them.
  template <class... Parts>
  static void leak(Parts&&... parts) {
    new std::tuple<std::decay_t<Parts>...>(std::move(parts)...);  // never deleted, on purpose
  }
  void abandon() {
    leak(std::move(instance_), std::move(gpu_), std::move(allocator_), std::move(pipelines_), std::move(stream_),
         std::move(dummy_), std::move(convert_), std::move(copy_), std::move(gemm_), std::move(w4a8_), std::move(attention_));
  }

  // The cooperative-matrix GEMM runs only after it agreed with the tiled path on this device once
  // (it cannot be tested on the CI's lavapipe, which has no cooperative matrices). Variants are tried
  // in the device's order (KHR, then NV); the first that agrees is used, none = the tiled path.
  bool coopmat_usable() {
    if (coopmat_state_ == FirstUse::Unchecked) {
      coopmat_state_ = FirstUse::Failed;
      for (CoopmatVariant v : gpu_->coopmat_variants()) {
        gemm_->use_coopmat(v);
        if (check_or_log(std::string(coopmat_variant_name(v)) + " cooperative-matrix GEMM", gpu_->info().name,
                         [&] { return verify_coopmat(v); })) {
          coopmat_state_ = FirstUse::Passed;
          break;
        }
      }
    }
    return coopmat_state_ == FirstUse::Passed;
  }
  bool verify_coopmat(CoopmatVariant variant) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> bits;
    const uint64_t m = 80, n = 72, k = 256;
    const std::vector<uint16_t> x = random_halves(rng, m * k, 0x3000), wf = random_halves(rng, n * k, 0x2000);
    std::vector<uint16_t> sc(2 * n);
    std::vector<uint32_t> qw(k / 8 * n);
    for (auto& v : qw) v = bits(rng);
    for (auto& v : sc) v = uint16_t(0x2000 + bits(rng) % 0x400);
    auto xb = upload(*this, x.data(), x.size() * 2), wb = upload(*this, wf.data(), wf.size() * 2),
         qb = upload(*this, qw.data(), qw.size() * 4), sb = upload(*this, sc.data(), sc.size() * 2);
    // Each weight type and K-pipeline depth (separate pipelines: 1 serial .. 4), against the tiled path. Depths
    // 1 and 2 decide the variant; a deeper one that fails (or cannot be created) only caps the depth at 2.
    gemm_->cap_coopmat_stages(4);
    for (bool w4 : {true, false}) {
      GemmArgs g;
      g.w4 = w4, g.x = xb.get(), g.w = w4 ? qb.get() : wb.get(), g.scales = w4 ? sb.get() : nullptr;
      g.out_elem = 10 /* LB_FMT_F32 */, g.m = m, g.n = n, g.k = k, g.group = 128;
      auto run = [&](GemmPath path, int stages) {
        auto y = alloc(m * n * 4);
        g.y = y.get(), g.path = path, g.stages = stages;
        gemm_->gemm(g);
        return download_f32(*this, *y, m * n);
      };
      const std::vector<float> tiled = run(GemmPath::Tiled, 0);
      for (int stages : {1, 2, 3, 4}) {
        if (stages > 2) {
          if (gemm_->coopmat_stages_cap() < 3) continue;
          const std::string what = std::string(coopmat_variant_name(variant)) + " cooperative-matrix GEMM with stages " +
                                   std::to_string(stages);
          if (!check_or_log(what, gpu_->info().name, [&] {
                float d = 0, p = 0;
                return agrees(run(GemmPath::CoopMatrix, stages), tiled, d, p);
              })) {
            log().warn("vulkan: the {} cooperative-matrix GEMM's K pipeline deeper than 2 stages failed on {} ({}); "
                       "it keeps stages <= 2", coopmat_variant_name(variant), gpu_->info().name, w4 ? "int4" : "fp16");
            gemm_->cap_coopmat_stages(2);
          }
          continue;
        }
        const std::vector<float> coop = run(GemmPath::CoopMatrix, stages);
        float diff = 0, peak = 0;
        if (!agrees(coop, tiled, diff, peak)) {
          log().warn("vulkan: the {} cooperative-matrix GEMM ({}, stages {}) disagrees with the tiled path on {} (max "
                     "diff {} of {}); not using it", coopmat_variant_name(variant), w4 ? "int4" : "fp16", stages,
                     gpu_->info().name, diff, peak);
          return false;
        }
      }
    }
    log().info("vulkan: {} cooperative-matrix GEMM verified on {}", coopmat_variant_name(variant), gpu_->info().name);
    return true;
  }
  FirstUse coopmat_state_ = FirstUse::Unchecked;

  // The cooperative-matrix prefill runs for a (KV format, head dim) only after it agreed with the scalar
  // prefill on this device once (vk_prefill_check.hpp); until then, and after a failure, the scalar one runs.
  bool prefill_coopmat_usable(int format, uint32_t head_dim) {
    if (!prefill_coopmat_plan(*gpu_, head_dim)) return false;
    FirstUse& state = prefill_checks_[{format, head_dim}];
    const FirstUseStep step = first_use_step(state, stream_->external());
    if (step == FirstUseStep::Check)
      state = check_or_log("KHR cooperative-matrix prefill", gpu_->info().name,
                           [&] { return prefill_coopmat_agrees(*this, *attention_, format, head_dim); })
                  ? FirstUse::Passed
                  : FirstUse::Failed;
    return state == FirstUse::Passed;
  }
  std::map<std::pair<int, uint32_t>, FirstUse> prefill_checks_;
  uint64_t recordings_ = 0;  // ids handed out by begin_recording

  Settings settings_;
  uint64_t staging_flushes_ = 0;
  // Declaration order is teardown order reversed: kernels, stream and pipelines go before the device.
  std::shared_ptr<Instance> instance_;
  std::shared_ptr<Gpu> gpu_;
  std::shared_ptr<Allocator> allocator_;
  std::unique_ptr<Pipelines> pipelines_;
  std::unique_ptr<Stream> stream_;
  std::shared_ptr<VulkanBuffer> dummy_;
  std::unique_ptr<ConvertKernels> convert_;
  std::unique_ptr<CopyKernel> copy_;
  std::unique_ptr<GemmKernels> gemm_;
  std::unique_ptr<W4A8Kernels> w4a8_;
  std::unique_ptr<AttentionKernels> attention_;
};

}  // namespace

std::shared_ptr<Device> create_vulkan_device(const ContextOptions& o) { return std::make_shared<VulkanDevice>(o); }
std::shared_ptr<Device> import_vulkan_device(const VulkanImport& app, const ContextOptions& o) {
  return std::make_shared<VulkanDevice>(app, o);
}

uint64_t vulkan_abandoned_devices() { return abandoned_devices.load(); }

BackendReport probe_vulkan() {
  BackendReport r{Backend::Vulkan, false, "", {}};
  try {
    vk::Instance instance(false);
    auto pds = instance.physical_devices();
    for (size_t i = 0; i < pds.size(); ++i) r.devices.push_back(vk::describe(instance.get(), pds[i], int(i)));
    r.available = !r.devices.empty();
    if (!r.available) r.reason = "the Vulkan driver reports no physical devices";
  } catch (const std::exception& e) {
    r.reason = e.what();
  } catch (...) {
    r.reason = "unknown error while probing Vulkan";
  }
  return r;
}

}  // namespace lowbit::detail
