// vulkan_device.cpp — placeholder until the Vulkan backend lands in this change.
#include "backend/device.hpp"
namespace lowbit::detail {
std::shared_ptr<Device> create_vulkan_device(const ContextOptions&) {
  throw Error(ErrorCode::Unsupported, "vulkan backend not implemented yet");
}
BackendReport probe_vulkan() { return {Backend::Vulkan, false, "not implemented yet", {}}; }
}  // namespace lowbit::detail
