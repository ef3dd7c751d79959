// vk_common.hpp — small pieces every Vulkan file uses: VkResult -> typed lowbit::Error, and an RAII
// owner for handles that a VkDevice destroys (buffers, memory, pipelines, pools, fences...).
#pragma once

#include <vulkan/vulkan.h>

#include <string>
#include <utility>

#include "lowbit/lowbit.hpp"

namespace lowbit::detail::vk {

const char* result_name(VkResult r);
// Throws on failure: OutOfMemory, DeviceLost, else Error(Backend, "<call>: <VkResult name>").
void check(VkResult r, const char* call);

// Owns one handle of type H destroyed by Destroy(device, handle, nullptr). Move-only.
template <class H, void (*Destroy)(VkDevice, H, const VkAllocationCallbacks*)>
class Owned {
 public:
  Owned() = default;
  Owned(VkDevice dev, H h) : dev_(dev), h_(h) {}
  Owned(Owned&& o) noexcept : dev_(o.dev_), h_(std::exchange(o.h_, VK_NULL_HANDLE)) {}
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      reset();
      dev_ = o.dev_;
      h_ = std::exchange(o.h_, VK_NULL_HANDLE);
    }
    return *this;
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() { reset(); }

  void reset() {
    if (h_ != VK_NULL_HANDLE) Destroy(dev_, h_, nullptr);
    h_ = VK_NULL_HANDLE;
  }
  H get() const { return h_; }
  operator H() const { return h_; }
  explicit operator bool() const { return h_ != VK_NULL_HANDLE; }

 private:
  VkDevice dev_ = VK_NULL_HANDLE;
  H h_ = VK_NULL_HANDLE;
};

using BufferHandle = Owned<VkBuffer, vkDestroyBuffer>;
using MemoryHandle = Owned<VkDeviceMemory, vkFreeMemory>;
using ShaderModuleHandle = Owned<VkShaderModule, vkDestroyShaderModule>;
using PipelineHandle = Owned<VkPipeline, vkDestroyPipeline>;
using PipelineLayoutHandle = Owned<VkPipelineLayout, vkDestroyPipelineLayout>;
using PipelineCacheHandle = Owned<VkPipelineCache, vkDestroyPipelineCache>;
using SetLayoutHandle = Owned<VkDescriptorSetLayout, vkDestroyDescriptorSetLayout>;
using DescriptorPoolHandle = Owned<VkDescriptorPool, vkDestroyDescriptorPool>;
using CommandPoolHandle = Owned<VkCommandPool, vkDestroyCommandPool>;
using FenceHandle = Owned<VkFence, vkDestroyFence>;
using QueryPoolHandle = Owned<VkQueryPool, vkDestroyQueryPool>;

// "1.3.230" from a packed VK_MAKE_API_VERSION.
std::string version_string(uint32_t v);

}  // namespace lowbit::detail::vk
