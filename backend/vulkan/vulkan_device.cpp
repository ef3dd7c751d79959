// vulkan_device.cpp — the Vulkan backend's op table (detail::Device): wires instance, device, memory,
// pipelines, stream and kernels together; plus the factory and probe_vulkan().
#include <cstdlib>
#include <cstring>

#include "backend/device.hpp"
#include "backend/vulkan/vk_convert.hpp"
#include "backend/vulkan/vk_attention.hpp"
#include "backend/vulkan/vk_gemm.hpp"
#include "host/log.hpp"

namespace lowbit::detail {

namespace {

using namespace vk;

bool validation_requested() {
  const char* v = std::getenv("LOWBIT_VK_VALIDATION");
  return v && *v && std::strcmp(v, "0") != 0;
}

class VulkanDevice final : public Device {
 public:
  explicit VulkanDevice(const ContextOptions& o) {
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
    allocator_ = std::make_shared<Allocator>(gpu_);
    pipelines_ = std::make_unique<Pipelines>(*gpu_, o.cache_dir);
    stream_ = std::make_unique<Stream>(*gpu_, *allocator_);
    dummy_ = allocator_->create(16, MemoryUse::Device);
    convert_ = std::make_unique<ConvertKernels>(*gpu_, *pipelines_, *stream_, *dummy_);
    gemm_ = std::make_unique<GemmKernels>(*gpu_, *pipelines_, *stream_, *allocator_, *dummy_);
    attention_ = std::make_unique<AttentionKernels>(*gpu_, *pipelines_, *stream_, *allocator_, *dummy_);
  }

  ~VulkanDevice() override {
    try {
      stream_->wait();
    } catch (const std::exception& e) {
      log().error("vulkan: {}", e.what());
    }
    allocator_->set_completed(UINT64_MAX);  // no stream any more: buffers that die later free at once
  }

  const DeviceInfo& info() const override { return gpu_->info(); }

  std::shared_ptr<DeviceBuffer> alloc(size_t bytes) override { return allocator_->create(bytes, MemoryUse::Device); }

  void write(DeviceBuffer& b, size_t offset, const void* src, size_t bytes) override {
    auto& vb = static_cast<VulkanBuffer&>(b);
    if (!bytes) return;
    if (uint8_t* p = vb.host_ptr()) {
      if (stream_->busy(vb)) stream_->wait();  // queued work still reads or writes it
      std::memcpy(p + offset, src, bytes);
      return;
    }
    auto staging = allocator_->create(bytes, MemoryUse::Staging);
    std::memcpy(staging->mapped_ptr(), src, bytes);
    stream_->copy(*staging, 0, vb, offset, bytes);  // staging is freed once this batch completes
  }

  void read(const DeviceBuffer& b, size_t offset, void* dst, size_t bytes) override {
    auto& vb = static_cast<const VulkanBuffer&>(b);
    stream_->wait();
    if (!bytes) return;
    if (const uint8_t* p = vb.host_ptr()) {
      std::memcpy(dst, p + offset, bytes);
      return;
    }
    auto staging = allocator_->create(bytes, MemoryUse::Staging);
    stream_->copy(vb, offset, *staging, 0, bytes);
    stream_->wait();
    std::memcpy(dst, staging->mapped_ptr(), bytes);
  }

  void submit() override { stream_->submit(); }
  void wait() override { stream_->wait(); }
  void reset_timing() override { stream_->reset_timing(); }
  double device_ms() override { return stream_->device_ms(); }
  std::vector<std::string> diagnostics() const override { return instance_->diagnostics().all(); }

  void quantize(const QuantizeArgs& a) override { convert_->quantize(a); }
  void dequantize(const DequantizeArgs& a) override { convert_->dequantize(a); }
  void copy(const CopyArgs& a) override {
    if (!a.bytes) return;
    stream_->begin_op();  // timed like a kernel
    stream_->copy(static_cast<const VulkanBuffer&>(*a.src), 0, static_cast<VulkanBuffer&>(*a.dst), 0, a.bytes);
    stream_->end_op();
  }
  void gemm(const GemmArgs& a) override { gemm_->gemm(a); }
  void gather_columns(const GatherArgs& a) override { gemm_->gather(a); }
  void kv_append(const KvAppendArgs& a) override { attention_->kv_append(a); }
  void attention(const AttentionArgs& a) override { attention_->attention(a); }

 private:
  // Declaration order is teardown order reversed: kernels, stream and pipelines go before the device.
  std::shared_ptr<Instance> instance_;
  std::shared_ptr<Gpu> gpu_;
  std::shared_ptr<Allocator> allocator_;
  std::unique_ptr<Pipelines> pipelines_;
  std::unique_ptr<Stream> stream_;
  std::shared_ptr<VulkanBuffer> dummy_;
  std::unique_ptr<ConvertKernels> convert_;
  std::unique_ptr<GemmKernels> gemm_;
  std::unique_ptr<AttentionKernels> attention_;
};

}  // namespace

std::shared_ptr<Device> create_vulkan_device(const ContextOptions& o) { return std::make_shared<VulkanDevice>(o); }

BackendReport probe_vulkan() {
  BackendReport r{Backend::Vulkan, false, "", {}};
  try {
    vk::Instance instance(false);
    auto pds = instance.physical_devices();
    for (size_t i = 0; i < pds.size(); ++i) r.devices.push_back(vk::describe(pds[i], int(i)));
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
