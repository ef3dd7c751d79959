// cl_native.hpp — narrow access for peers that run on lowbit's own OpenCL objects (bench/'s CLBlast
// baseline): the device's in-order profiling queue, a buffer's cl_mem, and adding a peer command's
// profiling event to the device's timing. Only the declarations and <CL/cl.h>, so a peer needs
// nothing else of the backend. Implemented in opencl_device.cpp.
#pragma once

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>

namespace lowbit::detail {
class Device;
struct DeviceBuffer;
}  // namespace lowbit::detail

namespace lowbit::detail::cl {

// Throw Error(InvalidArgument) when `d` / `b` do not belong to the OpenCL backend.
cl_command_queue native_queue(Device& d);
cl_mem native_mem(const DeviceBuffer& b);
// Adds a command's profiling event to d's device time (Context::timing); takes ownership of e.
void record_native_event(Device& d, cl_event e);

}  // namespace lowbit::detail::cl
