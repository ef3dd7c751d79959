// vk_common.cpp — VkResult names and the error mapping used by every Vulkan call site.
#include "backend/vulkan/vk_common.hpp"

namespace lowbit::detail::vk {

const char* result_name(VkResult r) {
  switch (r) {
#define LB_CASE(x) \
  case x: return #x;
    LB_CASE(VK_SUCCESS)
    LB_CASE(VK_NOT_READY)
    LB_CASE(VK_TIMEOUT)
    LB_CASE(VK_EVENT_SET)
    LB_CASE(VK_EVENT_RESET)
    LB_CASE(VK_INCOMPLETE)
    LB_CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    LB_CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    LB_CASE(VK_ERROR_INITIALIZATION_FAILED)
    LB_CASE(VK_ERROR_DEVICE_LOST)
    LB_CASE(VK_ERROR_MEMORY_MAP_FAILED)
    LB_CASE(VK_ERROR_LAYER_NOT_PRESENT)
    LB_CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    LB_CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    LB_CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    LB_CASE(VK_ERROR_TOO_MANY_OBJECTS)
    LB_CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    LB_CASE(VK_ERROR_FRAGMENTED_POOL)
    LB_CASE(VK_ERROR_UNKNOWN)
    LB_CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    LB_CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
    LB_CASE(VK_ERROR_FRAGMENTATION)
    LB_CASE(VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS)
    LB_CASE(VK_PIPELINE_COMPILE_REQUIRED)
    LB_CASE(VK_ERROR_VALIDATION_FAILED_EXT)
#undef LB_CASE
    default: return "VkResult(unknown)";
  }
}

void check(VkResult r, const char* call) {
  if (r == VK_SUCCESS) return;
  std::string msg = std::string(call) + ": " + result_name(r);
  if (r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_POOL_MEMORY)
    throw Error(ErrorCode::OutOfMemory, "vulkan: " + msg);
  if (r == VK_ERROR_DEVICE_LOST) throw Error(ErrorCode::DeviceLost, "vulkan: " + msg);
  throw Error(ErrorCode::Backend, "vulkan: " + msg);
}

std::string version_string(uint32_t v) {
  return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
         std::to_string(VK_API_VERSION_PATCH(v));
}

}  // namespace lowbit::detail::vk
