// vk_gpu.hpp — the logical VkDevice lowbit runs on: one compute queue, the features our shaders need,
// the limits the ops plan with, and optional extensions (push descriptors).
#pragma once

#include <vulkan/vulkan.h>

#include <memory>
#include <optional>
#include <vector>

#include "backend/vulkan/coopmat_shapes.hpp"
#include "backend/vulkan/vk_instance.hpp"
#include "lowbit/interop.hpp"

namespace lowbit::detail::vk {

// The cooperative-matrix GEMM's two builds of shaders/glsl/gemm_coopmat.comp: gemm_coopmat_khr
// (GL_KHR_cooperative_matrix) and gemm_coopmat (GL_NV_cooperative_matrix).
enum class CoopmatVariant { Khr, Nv };
const char* coopmat_variant_name(CoopmatVariant v);

class Gpu {
 public:
  Gpu(std::shared_ptr<Instance> instance, VkPhysicalDevice pd, int index);
  // The application's device (vk_gpu_import.cpp): checked against what lowbit needs, never destroyed.
  Gpu(std::shared_ptr<Instance> instance, const VulkanImport& app);
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
  // The cooperative-matrix variants enabled on this device, preferred first (KHR, then NV); empty without
  // ($LOWBIT_VK_NO_COOPMAT turns both off, $LOWBIT_VK_NO_COOPMAT_KHR / _NV one of them).
  const std::vector<CoopmatVariant>& coopmat_variants() const { return coopmat_variants_; }
  bool coopmat() const { return !coopmat_variants_.empty(); }
  // Pipelines may require full subgroups (Pipelines::get's full_subgroups): 0 where they cannot (no
  // subgroup size control, or an imported device), else maxSubgroupSize, which the workgroup size
  // must then be a multiple of.
  uint32_t full_subgroups_max() const { return full_subgroups_max_; }
  // The KHR variant's fragment shape (coopmat_shapes.hpp), set when that variant is enabled.
  const std::optional<CoopmatShape>& coopmat_khr_shape() const { return coopmat_khr_shape_; }
  // Whether the device is the application's (Context::import_vulkan).
  bool imported() const { return !owns_device_; }
  // Serialises use of queue() with the application's threads (its lock callbacks; no-op when none).
  void lock_queue() const {
    if (queue_lock_) queue_lock_(queue_lock_user_);
  }
  void unlock_queue() const {
    if (queue_unlock_) queue_unlock_(queue_lock_user_);
  }
  // shaderIntegerDotProduct enabled (VK_KHR_shader_integer_dot_product): gemm_w4a8's _dot variants run; off
  // with $LOWBIT_NO_INT_DOT (backend/w4a8_plan.hpp). info().integer_dot_product says the same.
  bool integer_dot_product() const { return integer_dot_product_; }
  // VK_KHR_pipeline_executable_properties enabled because $LOWBIT_VK_PIPELINE_STATS asked for it
  // (vk_pipeline_stats.hpp): pipelines capture the driver's statistics and log them.
  bool pipeline_stats() const { return pipeline_stats_; }

 private:
  std::shared_ptr<Instance> instance_;
  VkPhysicalDevice pd_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  uint32_t timestamp_bits_ = 0;
  uint64_t max_range_ = 0;
  uint32_t full_subgroups_max_ = 0;
  VkPhysicalDeviceProperties props_{};
  DeviceInfo info_;
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_ = nullptr;
  std::vector<CoopmatVariant> coopmat_variants_;
  std::optional<CoopmatShape> coopmat_khr_shape_;
  bool owns_device_ = true;
  void (*queue_lock_)(void*) = nullptr;
  void (*queue_unlock_)(void*) = nullptr;
  void* queue_lock_user_ = nullptr;
  // The parts both constructors share: properties, DeviceInfo and the Vulkan 1.2 check (returns "vulkan
  // device 'NAME'" for messages); the binding range limit; the push-descriptor entry point.
  std::string describe_device(int index);
  void set_binding_range();
  void load_push_descriptors();
  bool integer_dot_product_ = false;
  bool pipeline_stats_ = false;
  bool coopmat_nv_supported(const VkPhysicalDeviceVulkan12Features& have12, const std::vector<CoopmatShape>& shapes) const;
  std::optional<CoopmatShape> coopmat_khr_supported(const VkPhysicalDeviceVulkan12Features& have12,
                                                    const std::vector<CoopmatShape>& shapes) const;
  bool coopmat_limits_ok() const;
};

}  // namespace lowbit::detail::vk
