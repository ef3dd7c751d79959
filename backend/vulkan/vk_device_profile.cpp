// vk_device_profile.cpp — DeviceProfile of a Vulkan physical device for the launch planner.
#include "backend/vulkan/vk_device_profile.hpp"

#include <algorithm>
#include <thread>

#include "backend/attention_plan.hpp"
#include "backend/vulkan/vk_instance.hpp"

namespace lowbit::detail::vk {

namespace {

uint32_t compute_units(VkPhysicalDevice pd) {
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  if (has_device_extension(pd, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME)) {
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    p2.pNext = &sm;
    vkGetPhysicalDeviceProperties2(pd, &p2);
    return sm.shaderSMCount;
  }
  if (has_device_extension(pd, VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME)) {
    VkPhysicalDeviceShaderCorePropertiesAMD amd{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD};
    p2.pNext = &amd;
    vkGetPhysicalDeviceProperties2(pd, &p2);
    return amd.shaderEngineCount * amd.shaderArraysPerEngineCount * amd.computeUnitsPerShaderArray;
  }
  return 0;
}

// The subgroup size where compute shaders may shuffle in full subgroups of exactly that size
// (REQUIRE_FULL_SUBGROUPS, no size variation: maxSubgroupSize == subgroupSize), else 0.
uint32_t shuffle_lanes(const Gpu& gpu) {
  VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  p2.pNext = &sg;
  vkGetPhysicalDeviceProperties2(gpu.physical(), &p2);
  const bool ok = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                  (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) && gpu.full_subgroups_max() == sg.subgroupSize;
  return ok ? sg.subgroupSize : 0;
}

}  // namespace

DeviceProfile device_profile(const Gpu& gpu) {
  DeviceProfile d;
  d.cpu = gpu.props().deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  d.compute_units = compute_units(gpu.physical());
  d.max_workgroup = gpu.limits().maxComputeWorkGroupInvocations;
  d.shared_bytes = gpu.limits().maxComputeSharedMemorySize;
  d.threads = std::max(1u, std::thread::hardware_concurrency());
  d.shuffle_lanes = shuffle_lanes(gpu);
  d.whole_row_head_sets = attn::kCpuWholeRowHeadSets;  // lavapipe's decode with whole rows
  return with_profile_override(d);
}

}  // namespace lowbit::detail::vk
