// vk_pipeline_stats.hpp — the driver's own statistics of each compiled pipeline (registers, shared and
// local memory, instruction counts: whatever the driver reports through VK_KHR_pipeline_executable_properties),
// logged as pipelines are made when $LOWBIT_VK_PIPELINE_STATS is set. A diagnostic for kernel work on real
// GPUs (a register-array kernel that spills to local memory shows up here, not in SPIR-V); drivers without
// the extension (lavapipe) say so once.
#pragma once

#include <vulkan/vulkan.h>

#include <string>

namespace lowbit::detail::vk {

// $LOWBIT_VK_PIPELINE_STATS set to anything but "" or "0".
bool pipeline_stats_requested();

// "Register Count=64, Shared Memory Size=4096, ..." for each executable of `pipeline` (created with
// VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR on a device with pipelineExecutableInfo enabled);
// a short reason when the driver gives none.
std::string pipeline_statistics_text(VkDevice device, VkPipeline pipeline);

}  // namespace lowbit::detail::vk
