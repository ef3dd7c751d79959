// opencl_device.cpp — placeholder until the OpenCL backend lands in this change.
#include "backend/device.hpp"
namespace lowbit::detail {
std::shared_ptr<Device> create_opencl_device(const ContextOptions&) {
  throw Error(ErrorCode::Unsupported, "opencl backend not implemented yet");
}
BackendReport probe_opencl() { return {Backend::OpenCL, false, "not implemented yet", {}}; }
}  // namespace lowbit::detail
