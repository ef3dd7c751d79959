// vk_pipeline_stats.cpp — see vk_pipeline_stats.hpp.
#include "backend/vulkan/vk_pipeline_stats.hpp"

#include <cstdlib>
#include <cstring>
#include <vector>

namespace lowbit::detail::vk {

bool pipeline_stats_requested() {
  const char* v = std::getenv("LOWBIT_VK_PIPELINE_STATS");
  return v && *v && std::strcmp(v, "0") != 0;
}

namespace {

std::string value_text(const VkPipelineExecutableStatisticKHR& s) {
  switch (s.format) {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: return s.value.b32 ? "true" : "false";
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: return std::to_string(s.value.i64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: return std::to_string(s.value.u64);
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: return std::to_string(s.value.f64);
    default: return "?";
  }
}

}  // namespace

std::string pipeline_statistics_text(VkDevice device, VkPipeline pipeline) {
  auto props_fn = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutablePropertiesKHR"));
  auto stats_fn = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
      vkGetDeviceProcAddr(device, "vkGetPipelineExecutableStatisticsKHR"));
  if (!props_fn || !stats_fn) return "no statistics entry points";
  VkPipelineInfoKHR pi{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  pi.pipeline = pipeline;
  uint32_t n = 0;
  if (props_fn(device, &pi, &n, nullptr) != VK_SUCCESS || n == 0) return "the driver lists no executables";
  std::vector<VkPipelineExecutablePropertiesKHR> exes(n, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR});
  if (props_fn(device, &pi, &n, exes.data()) != VK_SUCCESS) return "executable properties failed";
  std::string text;
  for (uint32_t e = 0; e < n; ++e) {
    VkPipelineExecutableInfoKHR ei{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    ei.pipeline = pipeline;
    ei.executableIndex = e;
    uint32_t ns = 0;
    if (stats_fn(device, &ei, &ns, nullptr) != VK_SUCCESS) continue;
    std::vector<VkPipelineExecutableStatisticKHR> st(ns, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
    if (stats_fn(device, &ei, &ns, st.data()) != VK_SUCCESS) continue;
    if (n > 1) text += std::string(text.empty() ? "" : "; ") + exes[e].name + ": ";
    for (uint32_t i = 0; i < ns; ++i)
      text += std::string(i ? ", " : "") + st[i].name + "=" + value_text(st[i]);
    if (exes[e].subgroupSize) text += ", subgroup=" + std::to_string(exes[e].subgroupSize);
  }
  return text.empty() ? "the driver gave no statistics" : text;
}

}  // namespace lowbit::detail::vk
