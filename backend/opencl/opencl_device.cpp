// opencl_device.cpp — OpenClDevice: device selection, context + in-order profiling queue, buffers,
// ordering (submit = clFlush, wait = clFinish), profiling-event timing; and the backend factory.
#include "backend/opencl/opencl_device.hpp"

#include <algorithm>
#include <thread>
#include <optional>

#include "backend/kernels.hpp"
#include "backend/w4a8_plan.hpp"
#include "host/cache_dir.hpp"
#include "host/log.hpp"

namespace lowbit::detail::cl {

namespace {

double event_ms(cl_event e) {
  cl_ulong t0 = 0, t1 = 0;
  if (clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_START, sizeof t0, &t0, nullptr) != CL_SUCCESS ||
      clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof t1, &t1, nullptr) != CL_SUCCESS || t1 < t0)
    return 0;
  return double(t1 - t0) * 1e-6;
}

bool event_done(cl_event e) {
  cl_int st = CL_QUEUED;
  return clGetEventInfo(e, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, nullptr) == CL_SUCCESS &&
         st == CL_COMPLETE;
}

void CL_CALLBACK on_driver_message(const char* text, const void*, size_t, void* user) {
  auto* m = static_cast<DriverMessages*>(user);
  std::lock_guard lock(m->mu);
  if (m->lines.size() < 1000) m->lines.emplace_back(text ? text : "");
  log().warn("opencl driver: {}", text ? text : "");
}

DeviceEntry pick_device(const ContextOptions& o, int& index) {
  auto devs = list_devices();
  std::vector<std::string> names;
  for (auto& d : devs) names.push_back(d.name);
  size_t i = select_device(names, o.device, Backend::OpenCL);
  index = int(i);
  return devs[i];
}

}  // namespace

OpenClDevice::OpenClDevice(const ContextOptions& o) : inject_lost_(o.test_device_lost_at) {
  int index = 0;
  entry_ = pick_device(o, index);
  info_ = query_device_info(entry_, index);

  cl_int err = CL_SUCCESS;
  cl_device_id dev = entry_.device;
  messages_ = std::make_unique<DriverMessages>();
  ctx_ = Context(clCreateContext(nullptr, 1, &dev, on_driver_message, messages_.get(), &err));
  check(err, "clCreateContext");
#if CL_TARGET_OPENCL_VERSION >= 200
  // clCreateCommandQueue is deprecated in 2.0+ headers but is the call 1.2 drivers have.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
  queue_ = Queue(clCreateCommandQueue(ctx_.get(), dev, CL_QUEUE_PROFILING_ENABLE, &err));
#if CL_TARGET_OPENCL_VERSION >= 200
#pragma GCC diagnostic pop
#endif
  check(err, "clCreateCommandQueue");
  init_device(o);
}

void OpenClDevice::init_device(const ContextOptions& o) {
  budget_ = std::make_shared<MemoryBudget>("opencl device '" + info_.name + "'", o.device_memory_limit);
  max_compute_units_ = device_value<cl_uint>(entry_.device, CL_DEVICE_MAX_COMPUTE_UNITS);
  profile_.cpu = (device_value<cl_device_type>(entry_.device, CL_DEVICE_TYPE) & CL_DEVICE_TYPE_CPU) != 0;
  profile_.compute_units = max_compute_units_;
  profile_.max_workgroup = uint32_t(std::min<size_t>(device_value<size_t>(entry_.device, CL_DEVICE_MAX_WORK_GROUP_SIZE), 1024));
  profile_.shared_bytes = device_value<cl_ulong>(entry_.device, CL_DEVICE_LOCAL_MEM_SIZE);
  profile_.threads = std::max(1u, std::thread::hardware_concurrency());
  profile_ = with_profile_override(profile_);
  // what gemm_w4a8 uses: cl_khr_integer_dot_product unless $LOWBIT_NO_INT_DOT (backend/w4a8_plan.hpp)
  info_.integer_dot_product = info_.integer_dot_product && int_dot_allowed();
  if (!messages_) messages_ = std::make_unique<DriverMessages>();  // an imported context reports to the app
  pool_->queue = queue_.get();

  cl_int err = CL_SUCCESS;
  cl_device_id dev = entry_.device;
  std::filesystem::path dir = cache_dir(o.cache_dir);
  programs_ = std::make_unique<ProgramCache>(ctx_.get(), dev, driver_key(entry_), dir);

  // subgroup_size: the preferred work-group multiple of a built kernel (1 if the build fails).
  try {
    cl_program p = programs_->get("probe", probe_kernel_source(), "-cl-std=CL1.2");
    Kernel k(clCreateKernel(p, "lb_probe", &err));
    if (err == CL_SUCCESS) info_.subgroup_size = kernel_multiple(k.get(), dev);
  } catch (const Error& e) {
    log().warn("opencl: probe kernel failed on {}: {}", info_.name, e.what());
  }
  log().debug("opencl: device {} ({}), cache {}", info_.name, info_.driver_version, dir.string());
}

ClBuffer::~ClBuffer() {
  if (!pool || !mem) return;
  std::lock_guard lock(pool->mu);
  if (!pool->queue) return;
  // Every command that used this buffer was enqueued before its release, so on the in-order queue the
  // last command enqueued is the ticket: once it completes, the buffer is free. (A marker with an empty
  // wait list, the first design, sometimes read complete on PoCL 3.1 while earlier commands had not.)
  cl_event ticket = pool->last.get();
  if (ticket) clRetainEvent(ticket);
  pool->bin.give({std::move(mem), std::move(charge)}, pool_size_class(size), Event(ticket));  // over the bound: freed
}

OpenClDevice::~OpenClDevice() {
  std::lock_guard lock(pool_->mu);
  pool_->queue = nullptr;  // buffers released after the device are freed, not pooled
  pool_->last = Event();
  pool_->bin.take_all();
}

std::shared_ptr<DeviceBuffer> OpenClDevice::alloc_pooled(size_t bytes) {
  const uint64_t size_class = pool_size_class(bytes);
  if (size_class > info_.max_buffer_range) return alloc(bytes);  // not pooled: the class would not fit
  std::optional<PooledMem> reused;
  {
    std::lock_guard lock(pool_->mu);
    reused = pool_->bin.take(size_class, [](const Event& e) { return !e.get() || event_done(e.get()); });
    if (reused) ++pool_->hits;
  }
  if (!reused) {
    auto fresh = std::static_pointer_cast<ClBuffer>(alloc(size_class));
    reused = PooledMem{std::move(fresh->mem), std::move(fresh->charge)};
  }
  auto b = std::make_shared<ClBuffer>();
  b->size = bytes;
  b->mem = std::move(reused->mem);
  b->charge = std::move(reused->charge);
  b->pool = pool_;
  return b;
}

// Short of memory: finish the queued work, drop the idle pooled buffers, try once more.
std::shared_ptr<DeviceBuffer> OpenClDevice::alloc(size_t bytes) {
  return allocate_or_reclaim([&] { return create_buffer(bytes); }, [&] {
    wait();
    release_idle();
  });
}

void OpenClDevice::release_idle() {
  std::vector<RecycleBin<PooledMem, Event>::Entry> idle;  // freed after the lock is released
  std::lock_guard lock(pool_->mu);
  idle = pool_->bin.take_idle([](const Event& e) { return !e.get() || event_done(e.get()); });
}

std::shared_ptr<DeviceBuffer> OpenClDevice::create_buffer(size_t bytes) {
  size_t rounded = (std::max<size_t>(bytes, 1) + 15) / 16 * 16;
  if (rounded > info_.max_buffer_range)
    throw Error(ErrorCode::OutOfMemory, "opencl: a buffer of " + std::to_string(bytes) +
                                            " bytes exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE (" +
                                            std::to_string(info_.max_buffer_range) + " bytes) of " + info_.name);
  auto b = std::make_shared<ClBuffer>();
  b->size = bytes;
  b->charge = allocate_or_reclaim([&] { return BudgetCharge(budget_, rounded); }, [&] { release_idle(); });
  try {
    cl_int err = CL_SUCCESS;
    b->mem = Mem(clCreateBuffer(ctx_.get(), CL_MEM_READ_WRITE, rounded, nullptr, &err));
    check(err, "clCreateBuffer(" + std::to_string(rounded) + " bytes)");
    // Zero-filled like the CPU backend's buffers (the padding bytes included).
    cl_uint zero = 0;
    auto w = wait_list();
    cl_event ev = nullptr;
    check(clEnqueueFillBuffer(queue_.get(), b->mem.get(), &zero, sizeof zero, 0, rounded, cl_uint(w.size()),
                              w.empty() ? nullptr : w.data(), &ev),
          "clEnqueueFillBuffer");
    enqueued(ev, false);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::OutOfMemory) throw;
    b->charge.reset();
    throw budget_->out_of_memory(rounded, e.what());
  }
  ++buffers_created_;
  return b;
}

void OpenClDevice::check_sync(cl_int err, const char* call) {
  if (inject_lost_.fail_now()) err = CL_OUT_OF_RESOURCES;
  try {
    check_wait(err, call);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::DeviceLost) throw;
    lost_ = std::string(e.what()) + inject_lost_.note();
    throw Error(ErrorCode::DeviceLost, lost_);
  }
}


void OpenClDevice::write(DeviceBuffer& b, size_t offset, const void* src, size_t bytes) {
  if (!bytes) return;
  // Blocking: the caller's memory may go away on return. The in-order queue (or the wait list on an
  // out-of-order one) orders it after queued work.
  auto w = wait_list();
  cl_event ev = nullptr;
  check_sync(clEnqueueWriteBuffer(queue_.get(), mem(&b), CL_TRUE, offset, bytes, src, cl_uint(w.size()),
                                  w.empty() ? nullptr : w.data(), &ev),
             "clEnqueueWriteBuffer");
  enqueued(ev, false);
}

void OpenClDevice::read(const DeviceBuffer& b, size_t offset, void* dst, size_t bytes) {
  if (!bytes) return;
  auto w = wait_list();
  cl_event ev = nullptr;
  check_sync(clEnqueueReadBuffer(queue_.get(), mem(&b), CL_TRUE, offset, bytes, dst, cl_uint(w.size()),
                                 w.empty() ? nullptr : w.data(), &ev),
             "clEnqueueReadBuffer");
  enqueued(ev, false);
}

std::vector<std::string> OpenClDevice::diagnostics() const {
  std::lock_guard lock(messages_->mu);
  return messages_->lines;
}

DeviceStats OpenClDevice::stats() const {
  DeviceStats s;
  s.buffers_created = buffers_created_;
  s.memory_bytes = budget_->live_bytes();
  s.memory_buffers = budget_->live_allocations();
  std::lock_guard lock(pool_->mu);
  s.pool_hits = pool_->hits;
  return s;
}

void OpenClDevice::submit() { check_sync(clFlush(queue_.get()), "clFlush"); }
void OpenClDevice::wait() { check_sync(clFinish(queue_.get()), "clFinish"); }

void OpenClDevice::reset_timing() {
  pending_.clear();
  done_ms_ = 0;
}

double OpenClDevice::device_ms() {
  wait();
  for (auto& e : pending_) done_ms_ += event_ms(e.get());
  pending_.clear();
  return done_ms_;
}

void OpenClDevice::record(cl_event e) {
  {
    std::lock_guard lock(pool_->mu);
    clRetainEvent(e);
    pool_->last = Event(e);
  }
  pending_.emplace_back(e);
  if (pending_.size() < 512) return;
  // Keep the list short in long runs: fold finished commands into the running sum.
  std::vector<Event> keep;
  for (auto& ev : pending_) {
    if (event_done(ev.get()))
      done_ms_ += event_ms(ev.get());
    else
      keep.push_back(std::move(ev));
  }
  pending_ = std::move(keep);
}

std::vector<cl_event> OpenClDevice::wait_list() {
  std::vector<cl_event> w;
  for (auto& e : app_waits_) w.push_back(e.get());
  if (out_of_order_) {
    std::lock_guard lock(pool_->mu);
    if (pool_->last) w.push_back(pool_->last.get());
  }
  return w;
}

void OpenClDevice::enqueued(cl_event e, bool timed) {
  app_waits_.clear();
  if (timed) {
    record(e);
    return;
  }
  std::lock_guard lock(pool_->mu);
  pool_->last = Event(e);
}

cl_kernel OpenClDevice::kernel(const std::string& file, const std::string& options, const char* name) {
  std::string key = file + '|' + options + '|' + name;
  if (auto it = kernels_.find(key); it != kernels_.end()) return it->second.get();
  auto src = sources_.find(file);
  if (src == sources_.end())
    src = sources_.emplace(file, embedded_text("lowbit_formats.h") + "\n" + embedded_text(file)).first;
  cl_program p = programs_->get(file, src->second, options);
  cl_int err = CL_SUCCESS;
  Kernel k(clCreateKernel(p, name, &err));
  check(err, std::string("clCreateKernel(") + name + ")");
  cl_kernel raw = k.get();
  kernels_.emplace(std::move(key), std::move(k));
  return raw;
}

size_t OpenClDevice::local_size(cl_kernel k, size_t want) const {
  size_t max_wg = 0;
  if (clGetKernelWorkGroupInfo(k, entry_.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, nullptr) !=
          CL_SUCCESS ||
      max_wg == 0)
    max_wg = info_.max_workgroup_size;
  size_t l = 1;
  while (l * 2 <= want && l * 2 <= max_wg) l *= 2;  // a power of two (lb_amax's reduction needs one)
  return l;
}

void OpenClDevice::launch3(cl_kernel k, size_t items, size_t rows, size_t slices, size_t local) {
  size_t global[3] = {(items + local - 1) / local * local, rows, slices};
  size_t lsize[3] = {local, 1, 1};
  cl_event ev = nullptr;
  cl_uint dims = slices > 1 ? 3 : rows > 1 ? 2 : 1;
  auto w = wait_list();
  check(clEnqueueNDRangeKernel(queue_.get(), k, dims, nullptr, global, lsize, cl_uint(w.size()),
                               w.empty() ? nullptr : w.data(), &ev),
        "clEnqueueNDRangeKernel");
  enqueued(ev, true);
}

void OpenClDevice::copy(const CopyArgs& a) {
  if (!a.bytes) return;
  cl_event ev = nullptr;
  auto w = wait_list();
  check(clEnqueueCopyBuffer(queue_.get(), mem(a.src), mem(a.dst), 0, 0, a.bytes, cl_uint(w.size()),
                            w.empty() ? nullptr : w.data(), &ev),
        "clEnqueueCopyBuffer");
  enqueued(ev, true);
}

static OpenClDevice& opencl_device(Device& d) {
  auto* cd = dynamic_cast<OpenClDevice*>(&d);
  if (!cd) throw Error(ErrorCode::InvalidArgument, "not an OpenCL device: " + d.info().name);
  return *cd;
}

cl_command_queue native_queue(Device& d) { return opencl_device(d).queue(); }

cl_mem native_mem(const DeviceBuffer& b) {
  auto* cb = dynamic_cast<const ClBuffer*>(&b);
  if (!cb) throw Error(ErrorCode::InvalidArgument, "not an OpenCL buffer");
  return cb->mem.get();
}

void record_native_event(Device& d, cl_event e) { opencl_device(d).record_external(e); }

void OpenClDevice::fill_u32(const DeviceBuffer& b, uint32_t bits) {
  cl_event ev = nullptr;
  cl_uint v = bits;
  auto w = wait_list();
  check(clEnqueueFillBuffer(queue_.get(), mem(&b), &v, sizeof v, 0, sizeof v, cl_uint(w.size()),
                            w.empty() ? nullptr : w.data(), &ev),
        "clEnqueueFillBuffer");
  enqueued(ev, true);
}

}  // namespace lowbit::detail::cl

namespace lowbit::detail {

std::shared_ptr<Device> create_opencl_device(const ContextOptions& o) {
  return std::make_shared<cl::OpenClDevice>(o);
}

std::optional<ProgramCacheStats> opencl_program_stats(const Device& d) {
  if (auto* cd = dynamic_cast<const cl::OpenClDevice*>(&d)) return cd->program_stats();
  return std::nullopt;
}

}  // namespace lowbit::detail
