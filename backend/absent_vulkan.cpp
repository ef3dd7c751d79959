// absent_vulkan.cpp — the Vulkan entry points of a library configured with -DLOWBIT_VULKAN=OFF: the backend is
// reported absent and asking for it is an error.
#include "backend/device.hpp"
namespace lowbit::detail {
std::shared_ptr<Device> create_vulkan_device(const ContextOptions&) {
  throw Error(ErrorCode::Unsupported, "lowbit was built without the vulkan backend (-DLOWBIT_VULKAN=OFF)");
}
uint64_t vulkan_abandoned_devices() { return 0; }
std::shared_ptr<Device> import_vulkan_device(const VulkanImport&, const ContextOptions&) {
  throw Error(ErrorCode::Unsupported, "lowbit was built without the vulkan backend (-DLOWBIT_VULKAN=OFF)");
}
BackendReport probe_vulkan() { return {Backend::Vulkan, false, "built without the vulkan backend (-DLOWBIT_VULKAN=OFF)", {}}; }
}  // namespace lowbit::detail
