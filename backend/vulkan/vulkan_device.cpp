// vulkan_device.cpp — the Vulkan backend's op table (detail::Device): wires instance, device, memory,
// pipelines, stream and kernels together; plus the factory and probe_vulkan().
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
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
  void gemm(const GemmArgs& a) override {
    if (a.path != GemmPath::CoopMatrix || coopmat_usable()) return gemm_->gemm(a);
    GemmArgs tiled = a;
    tiled.path = GemmPath::Tiled;
    gemm_->gemm(tiled);
  }
  bool supports(GemmPath p) const override { return p != GemmPath::CoopMatrix || (gpu_->coopmat() && coopmat_state_ != 2); }
  void gather_columns(const GatherArgs& a) override { gemm_->gather(a); }
  void kv_append(const KvAppendArgs& a) override { attention_->kv_append(a); }
  void attention(const AttentionArgs& a) override { attention_->attention(a); }

 private:
  // The cooperative-matrix GEMM runs only after it agreed with the tiled path on this device once
  // (it cannot be tested on the CI's lavapipe, which has no cooperative matrices).
  bool coopmat_usable() {
    if (coopmat_state_ == 0) coopmat_state_ = verify_coopmat() ? 1 : 2;
    return coopmat_state_ == 1;
  }
  bool verify_coopmat() {
    std::mt19937 rng(7);
    std::uniform_int_distribution<uint32_t> bits;
    const uint64_t m = 80, n = 72, k = 256;
    std::vector<uint16_t> x(m * k), wf(n * k), sc(2 * n);
    std::vector<uint32_t> qw(k / 8 * n);
    for (auto& v : x) v = uint16_t(0x3000 + bits(rng) % 0x0C00) ^ uint16_t((bits(rng) & 1) << 15);  // +-[0.125, 1)
    for (auto& v : wf) v = uint16_t(0x2000 + bits(rng) % 0x0C00) ^ uint16_t((bits(rng) & 1) << 15);
    for (auto& v : qw) v = bits(rng);
    for (auto& v : sc) v = uint16_t(0x2000 + bits(rng) % 0x400);
    auto up = [&](const void* p, size_t b) { auto buf = alloc(b); write(*buf, 0, p, b); return buf; };
    auto xb = up(x.data(), x.size() * 2), wb = up(wf.data(), wf.size() * 2), qb = up(qw.data(), qw.size() * 4),
         sb = up(sc.data(), sc.size() * 2);
    for (bool w4 : {true, false}) {
      GemmArgs g;
      g.w4 = w4, g.x = xb.get(), g.w = w4 ? qb.get() : wb.get(), g.scales = w4 ? sb.get() : nullptr;
      g.out_elem = 10 /* LB_FMT_F32 */, g.m = m, g.n = n, g.k = k, g.group = 128;
      std::vector<float> out[2];
      for (int i = 0; i < 2; ++i) {
        auto y = alloc(m * n * 4);
        g.y = y.get();
        g.path = i ? GemmPath::Tiled : GemmPath::CoopMatrix;
        gemm_->gemm(g);
        out[i].resize(m * n);
        read(*y, 0, out[i].data(), m * n * 4);
      }
      float peak = 0, diff = 0;
      for (size_t i = 0; i < out[1].size(); ++i) {
        peak = std::max(peak, std::fabs(out[1][i]));
        diff = std::max(diff, std::fabs(out[0][i] - out[1][i]));
      }
      if (!(diff <= 1e-2f * peak + 1e-3f)) {
        log().warn("vulkan: the cooperative-matrix GEMM disagrees with the tiled path on {} (max diff {} of {}); "
                   "using the tiled path", gpu_->info().name, diff, peak);
        return false;
      }
    }
    log().info("vulkan: cooperative-matrix GEMM verified on {}", gpu_->info().name);
    return true;
  }
  int coopmat_state_ = 0;  // 0 unchecked, 1 verified, 2 failed

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
