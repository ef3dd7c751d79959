// embed.cpp — the embedding entry points of Context (lowbit/interop.hpp): contexts on the application's
// device, record mode (Recording), buffers over application memory, OpenCL events in and out.
#include <utility>

#include "backend/device.hpp"
#include "host/context_options.hpp"
#include "host/device_call.hpp"
#include "host/tensor_bytes.hpp"

namespace lowbit {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, s); }

}  // namespace

Context Context::import_vulkan(const VulkanImport& app, const ContextOptions& given) {
  const ContextOptions opts = detail::with_environment(given);
  Context c;
  c.dev_ = detail::import_vulkan_device(app, opts);
  detail::configure_device(*c.dev_, opts);
  return c;
}

Context Context::import_opencl(const OpenClImport& app, const ContextOptions& given) {
  const ContextOptions opts = detail::with_environment(given);
  Context c;
  c.dev_ = detail::import_opencl_device(app, opts);
  detail::configure_device(*c.dev_, opts);
  return c;
}

Recording Context::record_into(::VkCommandBuffer_T* command_buffer) {
  if (backend() != Backend::Vulkan)
    throw Error(ErrorCode::Unsupported, std::string("record_into: recording into a VkCommandBuffer needs a Vulkan "
                                                    "context, this one runs on the ") + to_string(backend()) + " backend");
  if (!command_buffer) bad("record_into: the command buffer is null (VK_NULL_HANDLE)");
  detail::DeviceCall call(*dev_);
  Recording r;
  r.id_ = dev_->begin_recording(command_buffer);
  r.dev_ = dev_;
  r.open_ = true;
  return r;
}

Buffer Context::wrap(std::shared_ptr<detail::DeviceBuffer> mem, DType dtype, Shape shape) {
  Buffer b;
  b.bytes_ = mem->size;
  b.mem_ = std::move(mem);
  b.dtype_ = dtype;
  b.shape_ = std::move(shape);
  return b;
}

Buffer Context::wrap_vulkan_buffer(uint64_t vk_buffer, uint64_t offset, uint64_t range, uint32_t usage, DType dtype,
                                   Shape shape) {
  if (backend() != Backend::Vulkan)
    throw Error(ErrorCode::Unsupported, std::string("wrap_vulkan_buffer: this context runs on the ") +
                                            to_string(backend()) + " backend, not Vulkan");
  if (!vk_buffer) bad("wrap_vulkan_buffer: the VkBuffer is null (VK_NULL_HANDLE)");
  size_t bytes = detail::checked_bytes(dtype, shape);
  detail::DeviceCall call(*dev_);
  return wrap(dev_->wrap_vulkan(vk_buffer, offset, range, usage, bytes), dtype, std::move(shape));
}

Buffer Context::wrap_opencl_buffer(::_cl_mem* mem, uint64_t offset, DType dtype, Shape shape) {
  if (backend() != Backend::OpenCL)
    throw Error(ErrorCode::Unsupported, std::string("wrap_opencl_buffer: this context runs on the ") +
                                            to_string(backend()) + " backend, not OpenCL");
  if (!mem) bad("wrap_opencl_buffer: the cl_mem is null");
  size_t bytes = detail::checked_bytes(dtype, shape);
  detail::DeviceCall call(*dev_);
  return wrap(dev_->wrap_opencl(mem, offset, bytes), dtype, std::move(shape));
}

VulkanBufferRef Context::vulkan_buffer(const Buffer& b) const {
  if (!b.valid()) bad("vulkan_buffer: empty buffer");
  return dev_->vulkan_buffer(*b.mem());
}

::_cl_mem* Context::opencl_buffer(const Buffer& b) const {
  if (!b.valid()) bad("opencl_buffer: empty buffer");
  return static_cast<::_cl_mem*>(dev_->opencl_buffer(*b.mem()));
}

void Context::opencl_wait_for(std::span<::_cl_event* const> events) {
  std::vector<void*> list;
  for (size_t i = 0; i < events.size(); ++i) {
    if (!events[i]) bad("opencl_wait_for: event " + std::to_string(i) + " is null");
    list.push_back(events[i]);
  }
  detail::DeviceCall call(*dev_);
  dev_->opencl_wait_for(list);
}

::_cl_event* Context::opencl_last_event() {
  detail::DeviceCall call(*dev_);
  return static_cast<::_cl_event*>(dev_->opencl_last_event());
}

// ---- Recording ------------------------------------------------------------------------------------

Recording::Recording(Recording&& o) noexcept
    : dev_(std::move(o.dev_)), id_(std::exchange(o.id_, 0)), open_(std::exchange(o.open_, false)) {}

Recording& Recording::operator=(Recording&& o) noexcept {
  if (this != &o) {
    release();
    dev_ = std::move(o.dev_);
    id_ = std::exchange(o.id_, 0);
    open_ = std::exchange(o.open_, false);
  }
  return *this;
}

Recording::~Recording() { release(); }

void Recording::end() {
  if (!open_) return;
  open_ = false;
  detail::DeviceCall call(*dev_);
  dev_->end_recording(id_);
}

void Recording::release() noexcept {
  if (!dev_) return;
  if (open_) {
    open_ = false;
    try {
      std::lock_guard lock(dev_->call_mutex());
      dev_->end_recording(id_);
    } catch (...) {  // ending only leaves record mode; nothing to report from a destructor
    }
  }
  {
    std::lock_guard lock(dev_->call_mutex());
    dev_->release_recording(id_);
  }
  dev_.reset();
}

}  // namespace lowbit
