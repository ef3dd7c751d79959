// cl_platform.hpp — OpenCL device discovery: the flattened list of every platform's devices (the
// order ContextOptions::device indexes), and the DeviceInfo lowbit reports for one of them.
#pragma once

#include <CL/cl.h>

#include <string>
#include <vector>

#include "backend/opencl/cl_util.hpp"

namespace lowbit::detail::cl {

struct DeviceEntry {
  cl_platform_id platform = nullptr;
  cl_device_id device = nullptr;
  std::string name;
};

// Every device of every platform, platform by platform. Throws Error(NotFound) with the reason when
// there is no ICD / platform / device.
std::vector<DeviceEntry> list_devices();

// Static facts of a device. subgroup_size is left at 1: it needs a built kernel (kernel_multiple).
DeviceInfo query_device_info(const DeviceEntry& e, int index);

// Text identifying the driver stack for cache keys: device name, driver and platform version.
std::string driver_key(const DeviceEntry& e);

// CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE of a kernel (lowbit's DeviceInfo::subgroup_size:
// the SIMD width work-groups should be a multiple of); 1 if the query fails.
uint32_t kernel_multiple(cl_kernel k, cl_device_id d);

// A trivial kernel every device can build; used to read kernel_multiple.
inline const char* probe_kernel_source() {
  return "__kernel void lb_probe(__global uint* p) { p[get_global_id(0)] = 0u; }\n";
}

}  // namespace lowbit::detail::cl
