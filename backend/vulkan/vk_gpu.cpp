// vk_gpu.cpp — logical device creation: queue choice, required features, optional extensions.
#include "backend/vulkan/vk_gpu.hpp"

#include <cstdlib>
#include <vector>

#include "backend/vulkan/vk_settings.hpp"
#include "host/log.hpp"

namespace lowbit::detail::vk {

Gpu::Gpu(std::shared_ptr<Instance> instance, VkPhysicalDevice pd, int index)
    : instance_(std::move(instance)), pd_(pd) {
  vkGetPhysicalDeviceProperties(pd_, &props_);
  info_ = describe(pd_, index);
  const std::string who = "vulkan device '" + info_.name + "'";
  if (props_.apiVersion < VK_API_VERSION_1_2)
    throw Error(ErrorCode::Unsupported, who + " supports Vulkan " + info_.api_version + ", lowbit needs 1.2");

  // One queue that can run compute; prefer one with timestamps.
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd_, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> families(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(pd_, &nq, families.data());
  int chosen = -1;
  for (uint32_t i = 0; i < nq; ++i) {
    if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    if (chosen < 0 || (families[chosen].timestampValidBits == 0 && families[i].timestampValidBits > 0))
      chosen = int(i);
  }
  if (chosen < 0) throw Error(ErrorCode::Unsupported, who + " has no compute queue");
  queue_family_ = uint32_t(chosen);
  timestamp_bits_ = families[queue_family_].timestampValidBits;

  // Features the conversion shaders use: 8- and 16-bit storage buffers.
  VkPhysicalDeviceVulkan11Features have11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features have12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  have11.pNext = &have12;
  VkPhysicalDeviceFeatures2 have{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  have.pNext = &have11;
  vkGetPhysicalDeviceFeatures2(pd_, &have);
  if (!have12.storageBuffer8BitAccess) throw Error(ErrorCode::Unsupported, who + " lacks storageBuffer8BitAccess");
  if (!have11.storageBuffer16BitAccess)
    throw Error(ErrorCode::Unsupported, who + " lacks storageBuffer16BitAccess");

  VkPhysicalDeviceVulkan11Features use11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features use12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  use11.storageBuffer16BitAccess = VK_TRUE;
  use12.storageBuffer8BitAccess = VK_TRUE;
  use12.shaderFloat16 = have12.shaderFloat16;  // fp16 arithmetic: the GEMV's exponent-trick dequant
  use11.pNext = &use12;
  VkPhysicalDeviceFeatures2 use{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  use.pNext = &use11;

  // Cooperative matrices for the GEMM's CoopMatrix path: VK_NV_cooperative_matrix with a 16x8x16
  // fp16 x fp16 + fp32 subgroup shape, fp16 arithmetic, the memory model and 4 subgroups per workgroup.
  VkPhysicalDeviceCooperativeMatrixFeaturesNV use_cm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  if (coopmat_supported(have12)) {
    use12.shaderFloat16 = VK_TRUE;
    use12.vulkanMemoryModel = VK_TRUE;
    use_cm.cooperativeMatrix = VK_TRUE;
    use12.pNext = &use_cm;
    coopmat_ = true;
  }

  max_range_ = props_.limits.maxStorageBufferRange;
  if (uint64_t env = env_number("LOWBIT_VK_MAX_RANGE", 256, "a byte count"); env && env < max_range_) max_range_ = env;

  std::vector<const char*> extensions;
  bool push = has_device_extension(pd_, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME) &&
              std::getenv("LOWBIT_VK_NO_PUSH_DESCRIPTORS") == nullptr;
  if (push) extensions.push_back(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  if (coopmat_) extensions.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = queue_family_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo ci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  ci.pNext = &use;
  ci.queueCreateInfoCount = 1;
  ci.pQueueCreateInfos = &qci;
  ci.enabledExtensionCount = uint32_t(extensions.size());
  ci.ppEnabledExtensionNames = extensions.data();
  check(vkCreateDevice(pd_, &ci, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
  if (push)
    push_descriptor_ =
        reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(vkGetDeviceProcAddr(device_, "vkCmdPushDescriptorSetKHR"));

  log().debug("vulkan: {} ({}), queue family {}, push descriptors {}, max binding range {}, coopmat {}",
              info_.name, info_.driver_version, queue_family_, push_descriptor_ ? "yes" : "no", max_range_,
              coopmat_ ? "16x8x16" : "no");
}

bool Gpu::coopmat_supported(const VkPhysicalDeviceVulkan12Features& have12) const {
  if (std::getenv("LOWBIT_VK_NO_COOPMAT")) return false;
  if (!has_device_extension(pd_, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) return false;
  if (!have12.shaderFloat16 || !have12.vulkanMemoryModel) return false;
  uint32_t sg = info_.subgroup_size;
  if (sg == 0 || 2048 % (4 * sg) != 0 || 4 * sg > props_.limits.maxComputeWorkGroupInvocations) return false;
  if (props_.limits.maxComputeSharedMemorySize < 32768) return false;
  VkPhysicalDeviceCooperativeMatrixFeaturesNV cm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceFeatures2 f{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f.pNext = &cm;
  vkGetPhysicalDeviceFeatures2(pd_, &f);
  if (!cm.cooperativeMatrix) return false;
  auto get_props = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
      vkGetInstanceProcAddr(instance_->get(), "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
  if (!get_props) return false;
  uint32_t n = 0;
  if (get_props(pd_, &n, nullptr) != VK_SUCCESS || n == 0) return false;
  std::vector<VkCooperativeMatrixPropertiesNV> props(n, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
  if (get_props(pd_, &n, props.data()) != VK_SUCCESS) return false;
  for (const auto& p : props)
    if (p.MSize == 16 && p.NSize == 8 && p.KSize == 16 && p.AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
        p.BType == VK_COMPONENT_TYPE_FLOAT16_NV && p.CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
        p.DType == VK_COMPONENT_TYPE_FLOAT32_NV && p.scope == VK_SCOPE_SUBGROUP_NV)
      return true;
  return false;
}

Gpu::~Gpu() {
  if (device_) {
    vkDeviceWaitIdle(device_);
    vkDestroyDevice(device_, nullptr);
  }
}

}  // namespace lowbit::detail::vk
