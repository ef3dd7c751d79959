// vk_coopmat.cpp — queries VK_NV_cooperative_matrix / VK_KHR_cooperative_matrix support and shapes.
#include "backend/vulkan/vk_coopmat.hpp"

#include <cstdlib>

#include "backend/kernels.hpp"
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

// One extension: its feature's cooperativeMatrix flag and the shapes its property function lists
// (`to_shape` converts one entry). False, with no shapes, where the extension is absent.
template <class Features, class Props, class Get>
bool query_extension(VkInstance instance, VkPhysicalDevice pd, const char* extension, VkStructureType feature_type,
                     const char* function, VkStructureType props_type, CoopmatShape (*to_shape)(const Props&),
                     std::vector<CoopmatShape>& shapes) {
  if (!has_device_extension(pd, extension)) return false;
  Features f{feature_type};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.pNext = &f;
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  auto get = reinterpret_cast<Get>(vkGetInstanceProcAddr(instance, function));
  for (const Props& e : property_list<Props>(get, pd, props_type)) shapes.push_back(to_shape(e));
  return f.cooperativeMatrix && !shapes.empty();
}

CoopmatShape nv_shape(const VkCooperativeMatrixPropertiesNV& e) {
  return {e.MSize, e.NSize, e.KSize, uint32_t(e.AType), uint32_t(e.BType), uint32_t(e.CType), uint32_t(e.DType),
          uint32_t(e.scope), false};
}

CoopmatShape khr_shape(const VkCooperativeMatrixPropertiesKHR& e) {
  return {e.MSize, e.NSize, e.KSize, uint32_t(e.AType), uint32_t(e.BType), uint32_t(e.CType), uint32_t(e.ResultType),
          uint32_t(e.scope), e.saturatingAccumulation != VK_FALSE};
}

}  // namespace

bool coopmat_khr_allowed_by_env() {
  return std::getenv("LOWBIT_VK_NO_COOPMAT") == nullptr && std::getenv("LOWBIT_VK_NO_COOPMAT_KHR") == nullptr;
}

std::string prefill_attention_text(const std::optional<CoopmatShape>& khr_shape) {
  if (!khr_shape || !has_embedded_file("attention_prefill_coopmat_khr.spv")) return "scalar";
  return "cooperative matrix (KHR " + coopmat_shape_name(*khr_shape) + ", checked on first use)";
}

CoopmatSupport query_coopmat(VkInstance instance, VkPhysicalDevice pd) {
  CoopmatSupport s;
  VkPhysicalDeviceProperties p;
  vkGetPhysicalDeviceProperties(pd, &p);
  if (p.apiVersion < VK_API_VERSION_1_1) return s;  // vkGetPhysicalDeviceFeatures2 is core 1.1
  s.nv = query_extension<VkPhysicalDeviceCooperativeMatrixFeaturesNV, VkCooperativeMatrixPropertiesNV,
                         PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
      instance, pd, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
      "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV", VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV, nv_shape,
      s.nv_shapes);
  s.khr = query_extension<VkPhysicalDeviceCooperativeMatrixFeaturesKHR, VkCooperativeMatrixPropertiesKHR,
                          PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR>(
      instance, pd, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME,
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR,
      "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR", VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR,
      khr_shape, s.khr_shapes);
  return s;
}

}  // namespace lowbit::detail::vk
