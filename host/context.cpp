// context.cpp — Context creation (backend/device choice), buffers, upload/download, stream control.
#include <cstdlib>
#include <sstream>

#include "autotune/tuning_state.hpp"
#include "backend/device.hpp"
#include "host/context_options.hpp"
#include "host/device_call.hpp"
#include "host/log.hpp"
#include "host/tensor_bytes.hpp"

namespace lowbit {

using detail::Device;

static std::shared_ptr<Device> make_device(Backend b, const ContextOptions& o) {
  switch (b) {
    case Backend::CPU: return detail::create_cpu_device(o);
    case Backend::Vulkan: return detail::create_vulkan_device(o);
    case Backend::OpenCL: return detail::create_opencl_device(o);
    case Backend::Auto: break;
  }
  throw Error(ErrorCode::Internal, "make_device: bad backend");
}

// "vulkan: 0: llvmpipe, opencl: 0: cpu-pthread, cpu: 0: AMD EPYC" — every device of every backend, for
// the error of a --device that matches none.
static std::string all_devices() {
  std::string list;
  for (const auto& r : probe_backends()) {
    list += list.empty() ? "" : "; ";
    list += std::string(to_string(r.backend)) + ": ";
    if (!r.available) list += "not available";
    for (size_t i = 0; i < r.devices.size(); ++i) list += (i ? ", " : "") + std::to_string(i) + ": " + r.devices[i].name;
  }
  return list;
}

static Error no_such_device(const ContextOptions& o) {
  return Error(ErrorCode::NotFound, "no device matches --device '" + o.device + "' (backend " +
                                        to_string(o.backend) + "); devices: " + all_devices());
}

// Backend::Auto: the first of Vulkan, OpenCL, CPU that works (and holds the device asked for). A device the
// caller named that no backend has is an error; falling back to the CPU because no GPU driver works is a
// warning with the reasons.
static std::shared_ptr<Device> make_auto_device(const ContextOptions& o) {
  std::string reasons;
  for (Backend b : {Backend::Vulkan, Backend::OpenCL, Backend::CPU}) {
    try {
      auto dev = make_device(b, o);
      // A named device that only the CPU matches is what was asked for; otherwise the CPU is the fallback.
      if (b == Backend::CPU && (o.device.empty() || o.device == "0"))
        log().warn("no GPU backend available, running on the CPU reference ({})", reasons);
      else if (!reasons.empty())
        log().debug("auto backend skipped {}", reasons);
      return dev;
    } catch (const Error& e) {
      if (e.code() != ErrorCode::NotFound && e.code() != ErrorCode::Unsupported) throw;
      if (b == Backend::CPU) throw o.device.empty() ? e : no_such_device(o);
      reasons += std::string(reasons.empty() ? "" : "; ") + to_string(b) + ": " + e.what();
    }
  }
  throw Error(ErrorCode::Internal, "make_auto_device: unreachable");
}

// True when backend b works and has devices, so a NotFound from it means the --device selector.
static bool backend_available(Backend b) {
  for (const auto& r : probe_backends())
    if (r.backend == b) return r.available && !r.devices.empty();
  return false;
}

// What every new device takes from the options beside its backend: the deterministic flag and the tuning
// state its ops consult (the database is read at the first lookup).
void detail::configure_device(Device& d, const ContextOptions& o) {
  d.set_deterministic(o.deterministic);
  d.tuning = std::make_shared<detail::TuningState>(o.tuning_db, o.cache_dir, d.info());
}

void Context::set_kernel_config(std::optional<KernelConfig> c) {
  detail::DeviceCall call(*dev_);
  dev_->tuning->set_override(c);
}
KernelChoice Context::last_kernel_choice() const {
  detail::DeviceCall call(*dev_);
  return dev_->tuning->last();
}
std::string Context::tuning_db_path() const { return dev_->tuning->db_path().string(); }
void Context::reload_tuning() {
  detail::DeviceCall call(*dev_);
  dev_->tuning->reload();
}

Context Context::create(const ContextOptions& given) {
  const ContextOptions opts = detail::with_environment(given);
  Context c;
  if (opts.backend == Backend::Auto) {
    c.dev_ = make_auto_device(opts);
    log().info("backend {} on {}", to_string(c.backend()), c.device_info().name);
  } else {
    try {
      c.dev_ = make_device(opts.backend, opts);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::NotFound && !opts.device.empty() && backend_available(opts.backend))
        throw no_such_device(opts);
      throw;
    }
  }
  detail::configure_device(*c.dev_, opts);
  return c;
}

Backend Context::backend() const { return dev_->info().backend; }
const DeviceInfo& Context::device_info() const { return dev_->info(); }
bool Context::deterministic() const { return dev_->deterministic(); }

size_t detail::checked_bytes(DType dtype, const Shape& shape) {
  uint64_t n = 1;
  for (auto v : shape) {
    if (v < 0) throw Error(ErrorCode::InvalidArgument, "negative dimension in shape " + shape_str(shape));
    if (v != 0 && n > (uint64_t(1) << 50) / uint64_t(v))
      throw Error(ErrorCode::InvalidArgument, "shape " + shape_str(shape) + " is too large");
    n *= uint64_t(v);
  }
  return size_t(n * dtype_size(dtype));
}

Buffer Context::alloc(DType dtype, Shape shape) { return alloc_buffer(dtype, std::move(shape), false); }

Buffer Context::alloc_buffer(DType dtype, Shape shape, bool pooled) {
  detail::DeviceCall call(*dev_);
  Buffer b;
  b.bytes_ = detail::checked_bytes(dtype, shape);
  b.mem_ = pooled ? dev_->alloc_pooled(b.bytes_) : dev_->alloc(b.bytes_);
  b.dtype_ = dtype;
  b.shape_ = std::move(shape);
  return b;
}

Buffer Context::upload(DType dtype, Shape shape, const void* data, size_t bytes) {
  detail::DeviceCall call(*dev_);
  Buffer b = alloc(dtype, std::move(shape));
  if (bytes != b.bytes())
    throw Error(ErrorCode::InvalidArgument, "upload: " + std::to_string(bytes) + " bytes given, shape " +
                                                shape_str(b.shape()) + " of " + to_string(dtype) +
                                                " needs " + std::to_string(b.bytes()));
  if (bytes) dev_->write(*b.mem_, 0, data, bytes);
  return b;
}

void Context::download(const Buffer& b, void* dst, size_t bytes) {
  if (!b.valid()) throw Error(ErrorCode::InvalidArgument, "download: empty buffer");
  if (bytes > b.bytes())
    throw Error(ErrorCode::InvalidArgument, "download: " + std::to_string(bytes) + " bytes asked, buffer has " +
                                                std::to_string(b.bytes()));
  detail::DeviceCall call(*dev_);
  if (bytes) dev_->read(*b.mem_, 0, dst, bytes);
}

Buffer Buffer::view(DType dtype, Shape shape) const {
  Buffer v = *this;
  v.dtype_ = dtype;
  v.bytes_ = detail::checked_bytes(dtype, shape);
  if (v.bytes_ > bytes_)
    throw Error(ErrorCode::InvalidArgument, "view " + shape_str(shape) + " exceeds the buffer's " +
                                                std::to_string(bytes_) + " bytes");
  v.shape_ = std::move(shape);
  return v;
}

void Context::submit() {
  detail::DeviceCall call(*dev_);
  dev_->submit();
}
void Context::wait() {
  detail::DeviceCall call(*dev_);
  dev_->wait();
}
void Context::reset_timing() {
  detail::DeviceCall call(*dev_);
  dev_->reset_timing();
}
Timing Context::timing() {
  detail::DeviceCall call(*dev_);
  return {dev_->device_ms()};
}
std::vector<std::string> Context::diagnostics() const { return dev_->diagnostics(); }

std::vector<BackendReport> probe_backends() {
  std::vector<BackendReport> r;
  for (auto probe : {detail::probe_vulkan, detail::probe_opencl, detail::probe_cpu}) {
    try {
      r.push_back(probe());
    } catch (const std::exception& e) {
      BackendReport br{};
      br.reason = e.what();
      r.push_back(br);
    }
  }
  return r;
}

}  // namespace lowbit
