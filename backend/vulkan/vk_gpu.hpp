// vk_gpu.hpp — the logical VkDevice lowbit runs on: one compute queue, the features our shaders need,
// the limits the ops plan with, and optional extensions (push descriptors).
#pragma once

#include <vulkan/vulkan.h>

#include <memory>

#include "backend/vulkan/vk_instance.hpp"

namespace lowbit::detail::vk {

class Gpu {
 public:
  Gpu(std::shared_ptr<Instance> instance, VkPhysicalDevice pd, int index);
  ~Gpu();
  Gpu(const Gpu&) = delete;
  Gpu& operator=(const Gpu&) = delete;

  VkDevice device() const { return device_; }
  VkPhysicalDevice physical() const { return pd_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  const VkPhysicalDeviceProperties& props() const { return props_; }
  const VkPhysicalDeviceLimits& limits() const { return props_.limits; }
  const DeviceInfo& info() const { return info_; }
  const Instance& instance() const { return *instance_; }
  uint32_t timestamp_valid_bits() const { return timestamp_bits_; }
  // Largest range one storage-buffer binding may cover: maxStorageBufferRange, lowered by
  // $LOWBIT_VK_MAX_RANGE (tests use it to exercise chunked dispatch on small tensors).
  uint64_t max_binding_range() const { return max_range_; }
  // vkCmdPushDescriptorSetKHR when VK_KHR_push_descriptor is enabled, else null.
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_fn() const { return push_descriptor_; }
  // Whether VK_NV_cooperative_matrix is enabled with the 16x8x16 fp16/fp32 shape gemm_coopmat.comp
  // uses ($LOWBIT_VK_NO_COOPMAT turns it off).
  bool coopmat() const { return coopmat_; }

 private:
  std::shared_ptr<Instance> instance_;
  VkPhysicalDevice pd_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  uint32_t timestamp_bits_ = 0;
  uint64_t max_range_ = 0;
  VkPhysicalDeviceProperties props_{};
  DeviceInfo info_;
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_ = nullptr;
  bool coopmat_ = false;
  bool coopmat_supported(const VkPhysicalDeviceVulkan12Features& have12) const;
};

}  // namespace lowbit::detail::vk
