// cl_interop.cpp — the OpenCL side of embedding (lowbit/interop.hpp): a device on the application's
// context / device / queue, buffers over its cl_mem objects, and events in and out.
#include <algorithm>

#include "backend/opencl/opencl_device.hpp"
#include "host/log.hpp"

namespace lowbit::detail::cl {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, s); }

template <class T>
T queue_value(cl_command_queue q, cl_command_queue_info what, const char* op) {
  T v{};
  cl_int err = clGetCommandQueueInfo(q, what, sizeof v, &v, nullptr);
  if (err != CL_SUCCESS) bad(std::string(op) + ": the command queue is not valid (" + error_name(err) + ")");
  return v;
}

std::vector<cl_device_id> context_devices(cl_context c) {
  size_t bytes = 0;
  cl_int err = clGetContextInfo(c, CL_CONTEXT_DEVICES, 0, nullptr, &bytes);
  if (err != CL_SUCCESS) bad(std::string("import_opencl: the context is not valid (") + error_name(err) + ")");
  std::vector<cl_device_id> devs(bytes / sizeof(cl_device_id));
  check(clGetContextInfo(c, CL_CONTEXT_DEVICES, bytes, devs.data(), nullptr), "clGetContextInfo");
  return devs;
}

}  // namespace

OpenClDevice::OpenClDevice(const OpenClImport& app, const ContextOptions& o) : inject_lost_(o.test_device_lost_at) {
  if (!app.context) bad("import_opencl: context is null");
  if (!app.device) bad("import_opencl: device is null");
  if (!app.queue) bad("import_opencl: queue is null");
  auto devs = context_devices(app.context);
  if (std::find(devs.begin(), devs.end(), app.device) == devs.end())
    bad("import_opencl: the device is not one of the context's " + std::to_string(devs.size()) + " devices");
  if (queue_value<cl_context>(app.queue, CL_QUEUE_CONTEXT, "import_opencl") != app.context)
    bad("import_opencl: the command queue belongs to another context");
  if (queue_value<cl_device_id>(app.queue, CL_QUEUE_DEVICE, "import_opencl") != app.device)
    bad("import_opencl: the command queue runs on another device");
  const auto props = queue_value<cl_command_queue_properties>(app.queue, CL_QUEUE_PROPERTIES, "import_opencl");
  out_of_order_ = (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;

  entry_.device = app.device;
  entry_.platform = device_value<cl_platform_id>(app.device, CL_DEVICE_PLATFORM);
  entry_.name = device_string(app.device, CL_DEVICE_NAME);
  info_ = query_device_info(entry_, 0);
  // Our own references: released with the device, the application's stay untouched.
  check(clRetainContext(app.context), "clRetainContext");
  ctx_ = Context(app.context);
  check(clRetainCommandQueue(app.queue), "clRetainCommandQueue");
  queue_ = Queue(app.queue);
  init_device(o);
  log().debug("opencl: imported {} ({} queue{})", info_.name, out_of_order_ ? "out-of-order" : "in-order",
              props & CL_QUEUE_PROFILING_ENABLE ? ", profiling" : "");
}

std::shared_ptr<DeviceBuffer> OpenClDevice::wrap_opencl(void* handle, uint64_t offset, size_t bytes) {
  auto m = static_cast<cl_mem>(handle);
  cl_context owner = nullptr;
  cl_int err = clGetMemObjectInfo(m, CL_MEM_CONTEXT, sizeof owner, &owner, nullptr);
  if (err != CL_SUCCESS) bad(std::string("wrap_opencl_buffer: the cl_mem is not valid (") + error_name(err) + ")");
  if (owner != ctx_.get()) bad("wrap_opencl_buffer: the cl_mem belongs to another OpenCL context");
  size_t size = 0;
  check(clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof size, &size, nullptr), "clGetMemObjectInfo");
  const uint64_t need = (std::max<uint64_t>(bytes, 1) + 15) / 16 * 16;  // kernels touch whole words
  if (offset > size || size - offset < need)
    bad("wrap_opencl_buffer: the cl_mem holds " + std::to_string(size) + " bytes; from offset " +
        std::to_string(offset) + " the tensor needs " + std::to_string(need) + " (its " + std::to_string(bytes) +
        " bytes rounded up to 16: kernels access whole words)");
  auto b = std::make_shared<ClBuffer>();
  b->size = bytes;
  if (offset == 0) {
    check(clRetainMemObject(m), "clRetainMemObject");  // our reference; the application's object lives on
    b->mem = Mem(m);
    return b;
  }
  const uint64_t align = device_value<cl_uint>(entry_.device, CL_DEVICE_MEM_BASE_ADDR_ALIGN) / 8;
  if (align && offset % align)
    bad("wrap_opencl_buffer: offset " + std::to_string(offset) + " is not a multiple of the device's " +
        std::to_string(align) + "-byte sub-buffer alignment (CL_DEVICE_MEM_BASE_ADDR_ALIGN)");
  cl_buffer_region region{size_t(offset), size_t(need)};
  b->mem = Mem(clCreateSubBuffer(m, 0, CL_BUFFER_CREATE_TYPE_REGION, &region, &err));
  check(err, "clCreateSubBuffer");
  return b;
}

void OpenClDevice::opencl_wait_for(const std::vector<void*>& events) {
  for (void* e : events) {
    check(clRetainEvent(static_cast<cl_event>(e)), "clRetainEvent (opencl_wait_for)");
    app_waits_.emplace_back(static_cast<cl_event>(e));
  }
}

void* OpenClDevice::opencl_last_event() {
  {
    std::lock_guard lock(pool_->mu);
    if (pool_->last) {
      check(clRetainEvent(pool_->last.get()), "clRetainEvent");
      return pool_->last.get();
    }
  }
  // Nothing enqueued yet: an event that is already complete.
  cl_int err = CL_SUCCESS;
  cl_event e = clCreateUserEvent(ctx_.get(), &err);
  check(err, "clCreateUserEvent");
  check(clSetUserEventStatus(e, CL_COMPLETE), "clSetUserEventStatus");
  return e;
}

}  // namespace lowbit::detail::cl

namespace lowbit::detail {

std::shared_ptr<Device> import_opencl_device(const OpenClImport& app, const ContextOptions& o) {
  return std::make_shared<cl::OpenClDevice>(app, o);
}

}  // namespace lowbit::detail
