// vk_coopmat.hpp — what a physical device offers for cooperative matrices: VK_NV_cooperative_matrix and
// VK_KHR_cooperative_matrix (extension + feature) and the shapes each reports. Declares the KHR types itself
// where the Vulkan headers predate the extension (Debian 12 ships 1.3.239; VK_KHR_cooperative_matrix is 1.3.255).
#pragma once

#include <vulkan/vulkan.h>

#include <optional>
#include <string>
#include <vector>

#include "backend/vulkan/coopmat_shapes.hpp"

#ifndef VK_KHR_cooperative_matrix
#define VK_KHR_cooperative_matrix 1
#define VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME "VK_KHR_cooperative_matrix"
constexpr VkStructureType VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR = VkStructureType(1000506000);
constexpr VkStructureType VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR = VkStructureType(1000506001);
typedef struct VkCooperativeMatrixPropertiesKHR {
  VkStructureType sType;
  void* pNext;
  uint32_t MSize, NSize, KSize;
  uint32_t AType, BType, CType, ResultType;  // VkComponentTypeKHR
  VkBool32 saturatingAccumulation;
  uint32_t scope;  // VkScopeKHR
} VkCooperativeMatrixPropertiesKHR;
typedef struct VkPhysicalDeviceCooperativeMatrixFeaturesKHR {
  VkStructureType sType;
  void* pNext;
  VkBool32 cooperativeMatrix;
  VkBool32 cooperativeMatrixRobustBufferAccess;
} VkPhysicalDeviceCooperativeMatrixFeaturesKHR;
typedef VkResult(VKAPI_PTR* PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR)(
    VkPhysicalDevice, uint32_t*, VkCooperativeMatrixPropertiesKHR*);
#endif

namespace lowbit::detail::vk {

struct CoopmatSupport {
  bool nv = false, khr = false;  // extension present and its cooperativeMatrix feature set
  std::vector<CoopmatShape> nv_shapes, khr_shapes;
};

// Queries both extensions (needs the instance for the property functions). Never throws: a failing
// query leaves that extension unsupported.
CoopmatSupport query_coopmat(VkInstance instance, VkPhysicalDevice pd);

// Whether the environment leaves the KHR cooperative-matrix kernels on ($LOWBIT_VK_NO_COOPMAT and
// $LOWBIT_VK_NO_COOPMAT_KHR unset).
bool coopmat_khr_allowed_by_env();

// DeviceInfo::prefill_attention: "cooperative matrix (KHR <shape>, checked on first use)" with the KHR fragment
// shape the device may use, where this build has the shader; otherwise "scalar".
std::string prefill_attention_text(const std::optional<CoopmatShape>& khr_shape);

}  // namespace lowbit::detail::vk
