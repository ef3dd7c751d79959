// absent_opencl.cpp — the OpenCL entry points of a library configured with -DLOWBIT_OPENCL=OFF: the backend is
// reported absent and asking for it is an error.
#include "backend/device.hpp"
namespace lowbit::detail {
std::shared_ptr<Device> create_opencl_device(const ContextOptions&) {
  throw Error(ErrorCode::Unsupported, "lowbit was built without the opencl backend (-DLOWBIT_OPENCL=OFF)");
}
std::shared_ptr<Device> import_opencl_device(const OpenClImport&, const ContextOptions&) {
  throw Error(ErrorCode::Unsupported, "lowbit was built without the opencl backend (-DLOWBIT_OPENCL=OFF)");
}
BackendReport probe_opencl() { return {Backend::OpenCL, false, "built without the opencl backend (-DLOWBIT_OPENCL=OFF)", {}}; }
}  // namespace lowbit::detail
