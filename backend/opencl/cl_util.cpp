// cl_util.cpp — OpenCL error names and typed error mapping (see cl_util.hpp).
#include "backend/opencl/cl_util.hpp"

namespace lowbit::detail::cl {

const char* error_name(cl_int err) {
  switch (err) {
#define LB_CL_ERR(x) \
  case x: return #x;
    LB_CL_ERR(CL_SUCCESS)
    LB_CL_ERR(CL_DEVICE_NOT_FOUND)
    LB_CL_ERR(CL_DEVICE_NOT_AVAILABLE)
    LB_CL_ERR(CL_COMPILER_NOT_AVAILABLE)
    LB_CL_ERR(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    LB_CL_ERR(CL_OUT_OF_RESOURCES)
    LB_CL_ERR(CL_OUT_OF_HOST_MEMORY)
    LB_CL_ERR(CL_PROFILING_INFO_NOT_AVAILABLE)
    LB_CL_ERR(CL_MEM_COPY_OVERLAP)
    LB_CL_ERR(CL_IMAGE_FORMAT_MISMATCH)
    LB_CL_ERR(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    LB_CL_ERR(CL_BUILD_PROGRAM_FAILURE)
    LB_CL_ERR(CL_MAP_FAILURE)
    LB_CL_ERR(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    LB_CL_ERR(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    LB_CL_ERR(CL_COMPILE_PROGRAM_FAILURE)
    LB_CL_ERR(CL_LINKER_NOT_AVAILABLE)
    LB_CL_ERR(CL_LINK_PROGRAM_FAILURE)
    LB_CL_ERR(CL_DEVICE_PARTITION_FAILED)
    LB_CL_ERR(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    LB_CL_ERR(CL_INVALID_VALUE)
    LB_CL_ERR(CL_INVALID_DEVICE_TYPE)
    LB_CL_ERR(CL_INVALID_PLATFORM)
    LB_CL_ERR(CL_INVALID_DEVICE)
    LB_CL_ERR(CL_INVALID_CONTEXT)
    LB_CL_ERR(CL_INVALID_QUEUE_PROPERTIES)
    LB_CL_ERR(CL_INVALID_COMMAND_QUEUE)
    LB_CL_ERR(CL_INVALID_HOST_PTR)
    LB_CL_ERR(CL_INVALID_MEM_OBJECT)
    LB_CL_ERR(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    LB_CL_ERR(CL_INVALID_IMAGE_SIZE)
    LB_CL_ERR(CL_INVALID_SAMPLER)
    LB_CL_ERR(CL_INVALID_BINARY)
    LB_CL_ERR(CL_INVALID_BUILD_OPTIONS)
    LB_CL_ERR(CL_INVALID_PROGRAM)
    LB_CL_ERR(CL_INVALID_PROGRAM_EXECUTABLE)
    LB_CL_ERR(CL_INVALID_KERNEL_NAME)
    LB_CL_ERR(CL_INVALID_KERNEL_DEFINITION)
    LB_CL_ERR(CL_INVALID_KERNEL)
    LB_CL_ERR(CL_INVALID_ARG_INDEX)
    LB_CL_ERR(CL_INVALID_ARG_VALUE)
    LB_CL_ERR(CL_INVALID_ARG_SIZE)
    LB_CL_ERR(CL_INVALID_KERNEL_ARGS)
    LB_CL_ERR(CL_INVALID_WORK_DIMENSION)
    LB_CL_ERR(CL_INVALID_WORK_GROUP_SIZE)
    LB_CL_ERR(CL_INVALID_WORK_ITEM_SIZE)
    LB_CL_ERR(CL_INVALID_GLOBAL_OFFSET)
    LB_CL_ERR(CL_INVALID_EVENT_WAIT_LIST)
    LB_CL_ERR(CL_INVALID_EVENT)
    LB_CL_ERR(CL_INVALID_OPERATION)
    LB_CL_ERR(CL_INVALID_GL_OBJECT)
    LB_CL_ERR(CL_INVALID_BUFFER_SIZE)
    LB_CL_ERR(CL_INVALID_MIP_LEVEL)
    LB_CL_ERR(CL_INVALID_GLOBAL_WORK_SIZE)
    LB_CL_ERR(CL_INVALID_PROPERTY)
    LB_CL_ERR(CL_INVALID_IMAGE_DESCRIPTOR)
    LB_CL_ERR(CL_INVALID_COMPILER_OPTIONS)
    LB_CL_ERR(CL_INVALID_LINKER_OPTIONS)
    LB_CL_ERR(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef LB_CL_ERR
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: break;
  }
  static thread_local std::string unknown;
  unknown = "CL error " + std::to_string(err);
  return unknown.c_str();
}

void fail(cl_int err, const std::string& call) {
  std::string msg = "opencl: " + call + ": " + error_name(err);
  if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY)
    throw Error(ErrorCode::OutOfMemory, msg);
  if (err == CL_DEVICE_NOT_AVAILABLE) throw Error(ErrorCode::DeviceLost, msg);
  throw Error(ErrorCode::Backend, msg);
}

void check_wait(cl_int err, const char* call) {
  if (err == CL_OUT_OF_RESOURCES || err == CL_DEVICE_NOT_AVAILABLE || err == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    throw Error(ErrorCode::DeviceLost, std::string("opencl: ") + call + ": " + error_name(err) +
                                           ": queued work failed on the device (device lost)");
  check(err, call);
}

std::string device_string(cl_device_id d, cl_device_info what) {
  size_t n = 0;
  check(clGetDeviceInfo(d, what, 0, nullptr, &n), "clGetDeviceInfo");
  std::string s(n, '\0');
  if (n) check(clGetDeviceInfo(d, what, n, s.data(), nullptr), "clGetDeviceInfo");
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string platform_string(cl_platform_id p, cl_platform_info what) {
  size_t n = 0;
  check(clGetPlatformInfo(p, what, 0, nullptr, &n), "clGetPlatformInfo");
  std::string s(n, '\0');
  if (n) check(clGetPlatformInfo(p, what, n, s.data(), nullptr), "clGetPlatformInfo");
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace lowbit::detail::cl
