// vk_coopmat.cpp — queries VK_NV_cooperative_matrix / VK_KHR_cooperative_matrix support and shapes.
#include "backend/vulkan/vk_coopmat.hpp"

#include "backend/vulkan/vk_instance.hpp"

namespace lowbit::detail::vk {

namespace {

// Calls a vkGetPhysicalDeviceCooperativeMatrixProperties{NV,KHR} twice (count, then entries); {} on failure.
template <class Props, class Fn>
std::vector<Props> property_list(Fn get, VkPhysicalDevice pd, VkStructureType stype) {
  uint32_t n = 0;
  if (!get || get(pd, &n, nullptr) != VK_SUCCESS || n == 0) return {};
  std::vector<Props> props(n);
  for (auto& p : props) p.sType = stype;
  if (get(pd, &n, props.data()) != VK_SUCCESS) return {};
  props.resize(n);
  return props;
}

void read_features(VkPhysicalDevice pd, void* feature_struct) {
  VkPhysicalDeviceFeatures2 f{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f.pNext = feature_struct;
  vkGetPhysicalDeviceFeatures2(pd, &f);
}

}  // namespace

CoopmatSupport query_coopmat(VkInstance instance, VkPhysicalDevice pd) {
  CoopmatSupport s;
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(pd, &p);
  if (p.apiVersion < VK_API_VERSION_1_1) return s;  // vkGetPhysicalDeviceFeatures2 is core 1.1
  if (has_device_extension(pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME)) {
    VkPhysicalDeviceCooperativeMatrixFeaturesNV f{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    read_features(pd, &f);
    auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
        vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
    for (const auto& e : property_list<VkCooperativeMatrixPropertiesNV>(
             get, pd, VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV))
      s.nv_shapes.push_back({e.MSize, e.NSize, e.KSize, uint32_t(e.AType), uint32_t(e.BType), uint32_t(e.CType),
                             uint32_t(e.DType), uint32_t(e.scope), false});
    s.nv = f.cooperativeMatrix && !s.nv_shapes.empty();
  }
  if (has_device_extension(pd, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME)) {
    VkPhysicalDeviceCooperativeMatrixFeaturesKHR f{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
    read_features(pd, &f);
    auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR>(
        vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR"));
    for (const auto& e : property_list<VkCooperativeMatrixPropertiesKHR>(
             get, pd, VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR))
      s.khr_shapes.push_back({e.MSize, e.NSize, e.KSize, uint32_t(e.AType), uint32_t(e.BType), uint32_t(e.CType),
                              uint32_t(e.ResultType), uint32_t(e.scope), e.saturatingAccumulation != VK_FALSE});
    s.khr = f.cooperativeMatrix && !s.khr_shapes.empty();
  }
  return s;
}

}  // namespace lowbit::detail::vk
