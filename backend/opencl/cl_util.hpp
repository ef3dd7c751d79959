// cl_util.hpp — small OpenCL helpers shared by the backend: RAII owners for cl_* handles, error
// names, and the one place that turns a failed cl_int into a typed lowbit::Error.
#pragma once

#include <CL/cl.h>

#include <string>
#include <utility>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit::detail::cl {

// Owns one reference to an OpenCL object; move-only. `Release` is clRelease<Object>.
template <class T, cl_int (*Release)(T)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T h) : h_(h) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  ~Handle() { reset(); }
  void reset() {
    if (h_) Release(h_);
    h_ = nullptr;
  }
  T get() const { return h_; }
  T* out() {  // for APIs that return the handle through a pointer
    reset();
    return &h_;
  }
  explicit operator bool() const { return h_ != nullptr; }

 private:
  T h_ = nullptr;
};

using Context = Handle<cl_context, clReleaseContext>;
using Queue = Handle<cl_command_queue, clReleaseCommandQueue>;
using Mem = Handle<cl_mem, clReleaseMemObject>;
using Program = Handle<cl_program, clReleaseProgram>;
using Kernel = Handle<cl_kernel, clReleaseKernel>;
using Event = Handle<cl_event, clReleaseEvent>;

// "CL_OUT_OF_RESOURCES" for -5, "CL error -1234" for unknown codes.
const char* error_name(cl_int err);

// Throws Error(OutOfMemory) for allocation failures, Error(DeviceLost) for CL_DEVICE_NOT_AVAILABLE,
// Error(Backend, "<call>: <name>") otherwise.
[[noreturn]] void fail(cl_int err, const std::string& call);
inline void check(cl_int err, const char* call) {
  if (err != CL_SUCCESS) fail(err, call);
}
inline void check(cl_int err, const std::string& call) {
  if (err != CL_SUCCESS) fail(err, call);
}
// For calls that wait for queued work (clFinish, blocking reads/writes): a failure of that work
// (CL_OUT_OF_RESOURCES, CL_DEVICE_NOT_AVAILABLE, CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) throws
// Error(DeviceLost); anything else as check().
void check_wait(cl_int err, const char* call);

// String / scalar queries (throw on failure).
std::string device_string(cl_device_id d, cl_device_info what);
std::string platform_string(cl_platform_id p, cl_platform_info what);
template <class T>
T device_value(cl_device_id d, cl_device_info what) {
  T v{};
  check(clGetDeviceInfo(d, what, sizeof v, &v, nullptr), "clGetDeviceInfo");
  return v;
}

}  // namespace lowbit::detail::cl
