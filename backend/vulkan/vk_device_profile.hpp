// vk_device_profile.hpp — the launch planner's view of a Vulkan device (backend/gemm_plan.hpp).
#pragma once

#include "backend/gemm_plan.hpp"
#include "backend/vulkan/vk_gpu.hpp"

namespace lowbit::detail::vk {

// Device type, subgroup size and limits from the core properties; the compute-unit count where the
// driver tells it (VK_NV_shader_sm_builtins: SMs; VK_AMD_shader_core_properties: CUs), else 0 (unknown).
DeviceProfile device_profile(const Gpu& gpu);

}  // namespace lowbit::detail::vk
