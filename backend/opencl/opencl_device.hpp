// opencl_device.hpp — the OpenCL backend's Device: one context, one in-order profiling queue, cl_mem
// buffers, the program cache and the kernels of the ops (quantize/dequantize live in cl_convert.cpp).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/device.hpp"
#include "backend/fault_injection.hpp"
#include "lowbit/interop.hpp"
#include "backend/gemm_plan.hpp"
#include "backend/memory_budget.hpp"
#include "backend/recycle_bin.hpp"
#include "backend/opencl/cl_platform.hpp"
#include "backend/opencl/cl_native.hpp"
#include "backend/opencl/cl_util.hpp"
#include "backend/opencl/program_cache.hpp"

namespace lowbit::detail::cl {

// Released alloc_pooled buffers awaiting reuse: each waits behind a marker enqueued at its release, so it is
// handed out again only after every command enqueued before then (all that could use it) has finished.
// A pooled cl_mem with its bytes counted against the device's memory budget while it waits.
struct PooledMem {
  Mem mem;
  BudgetCharge charge;
};

struct ClBufferPool {
  std::mutex mu;
  cl_command_queue queue = nullptr;  // null once the device is gone: released buffers are just freed
  Event last;  // the last command enqueued on the (in-order) queue: a released buffer's ticket
  RecycleBin<PooledMem, Event> bin{uint64_t(256) << 20};
  uint64_t hits = 0;
};

struct ClBuffer final : DeviceBuffer {
  Mem mem;
  BudgetCharge charge;                 // its bytes in the device's memory budget
  std::shared_ptr<ClBufferPool> pool;  // alloc_pooled: where mem goes back when the buffer is released
  ~ClBuffer() override;
};

// The cl_mem of a device buffer (null for none), and one kernel argument: what every op's enqueue uses.
inline cl_mem mem(const DeviceBuffer* b) { return b ? static_cast<const ClBuffer*>(b)->mem.get() : nullptr; }
template <class T>
void set_arg(cl_kernel k, cl_uint i, const T& v) {
  check(clSetKernelArg(k, i, sizeof(T), &v), "clSetKernelArg");
}

// Messages the driver reports through the context's notify callback (diagnostics()).
struct DriverMessages {
  std::mutex mu;
  std::vector<std::string> lines;
};

class OpenClDevice final : public Device {
 public:
  explicit OpenClDevice(const ContextOptions& o);
  // On the application's context, device and queue (Context::import_opencl; cl_interop.cpp): lowbit holds
  // its own references, checks that they belong together, and follows the queue's order mode.
  OpenClDevice(const OpenClImport& app, const ContextOptions& o);

  const DeviceInfo& info() const override { return info_; }
  std::optional<DeviceProfile> launch_profile() const override { return profile_; }
  ~OpenClDevice() override;
  std::shared_ptr<DeviceBuffer> alloc(size_t bytes) override;
  std::shared_ptr<DeviceBuffer> alloc_pooled(size_t bytes) override;
  void write(DeviceBuffer& b, size_t offset, const void* src, size_t bytes) override;
  void read(const DeviceBuffer& b, size_t offset, void* dst, size_t bytes) override;
  void submit() override;
  void wait() override;
  void reset_timing() override;
  double device_ms() override;
  std::vector<std::string> diagnostics() const override;
  DeviceStats stats() const override;
  std::string lost_reason() const override { return lost_; }

  void quantize(const QuantizeArgs& a) override;  // cl_convert.cpp
  void dequantize(const DequantizeArgs& a) override;
  void gemm(const GemmArgs& a) override;  // cl_gemm.cpp
  void gather_columns(const GatherArgs& a) override;
  void quantize_activations_int8(const ActQuantArgs& a) override;  // cl_act_quant.cpp
  void gemm_w4a8(const GemmW4A8Args& a) override;  // cl_gemm_w4a8.cpp
  void copy(const CopyArgs& a) override;  // clEnqueueCopyBuffer, profiled
  void kv_append(const KvAppendArgs& a) override;  // cl_kv_append.cpp
  void attention(const AttentionArgs& a) override;

  // For in-tree peers (cl_native.hpp): the queue, and adding a command's profiling event to
  // the device's timing (the device takes ownership of `e`).
  cl_command_queue queue() const { return queue_.get(); }
  void record_external(cl_event e) { record(e); }

  ProgramCacheStats program_stats() const { return programs_->stats(); }

  // ---- embedding (cl_interop.cpp) ----
  std::shared_ptr<DeviceBuffer> wrap_opencl(void* mem, uint64_t offset, size_t bytes) override;
  void* opencl_buffer(const DeviceBuffer& b) const override { return mem(&b); }
  void opencl_wait_for(const std::vector<void*>& events) override;
  void* opencl_last_event() override;

 private:
  // The kernel `name` of convert.cl built with `options` (cached per (options, name)).
  cl_kernel kernel(const std::string& options, const char* name) { return kernel("convert.cl", options, name); }
  // The kernel `name` of the embedded source `file` (prefixed with lowbit_formats.h) built with `options`.
  cl_kernel kernel(const std::string& file, const std::string& options, const char* name);
  // Enqueues k over `items` work-items (rounded up to a multiple of `local`), recording its event.
  void launch(cl_kernel k, size_t items, size_t local) { launch2(k, items, 1, local); }
  // Two-dimensional launch: `items` x `rows` work-items, work-groups of `local` x 1.
  void launch2(cl_kernel k, size_t items, size_t rows, size_t local) { launch3(k, items, rows, 1, local); }
  // Three-dimensional launch: `items` x `rows` x `slices` work-items, work-groups of `local` x 1 x 1.
  void launch3(cl_kernel k, size_t items, size_t rows, size_t slices, size_t local);
  // Fills the first 4 bytes of b with `bits` (recorded for timing like a kernel).
  void fill_u32(const DeviceBuffer& b, uint32_t bits);
  void record(cl_event e);
  // A new cl_mem of `bytes` (zero-filled), counted against the memory budget.
  std::shared_ptr<DeviceBuffer> create_buffer(size_t bytes);
  void release_idle();  // frees pooled buffers whose last command completed
  // check_wait for a submit / wait that may fail as a lost device (also the injected one); marks the
  // device lost when it does.
  void check_sync(cl_int err, const char* call);
  // The events lowbit's next command waits for: the application's (opencl_wait_for), and on an out-of-order
  // queue lowbit's previous command, so that its commands still run in order.
  std::vector<cl_event> wait_list();
  // After an enqueue with wait_list(): the application's events are consumed, `e` (owned) becomes the last
  // command (timed: also summed into the device time).
  void enqueued(cl_event e, bool timed);
  // Both constructors: the launch planner's profile, the program cache and the probe kernel.
  void init_device(const ContextOptions& o);
  size_t local_size(cl_kernel k, size_t want) const;

  DeviceEntry entry_;
  DeviceInfo info_;
  cl_uint max_compute_units_ = 1;
  DeviceProfile profile_;  // what the launch planner (backend/gemm_plan.hpp) knows of the device
  std::unique_ptr<DriverMessages> messages_;  // outlives ctx_ (declared before it)
  Context ctx_;
  Queue queue_;
  std::unique_ptr<ProgramCache> programs_;
  std::map<std::string, std::string> sources_;  // embedded file -> header + source
  std::shared_ptr<DeviceBuffer> attn_partials_;  // decode split-K scratch (cl_attention.cpp), grown on demand
  std::map<std::string, Kernel> kernels_;  // key: options + '|' + kernel name
  std::vector<Event> pending_;             // profiled commands not yet summed into done_ms_
  double done_ms_ = 0;
  uint64_t buffers_created_ = 0;
  std::shared_ptr<ClBufferPool> pool_ = std::make_shared<ClBufferPool>();
  std::shared_ptr<MemoryBudget> budget_;
  InjectedDeviceLoss inject_lost_;
  std::string lost_;  // why the device counts as lost; empty while it works
  bool out_of_order_ = false;     // CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE (an imported queue)
  std::vector<Event> app_waits_;  // the application's events the next command waits for
};

}  // namespace lowbit::detail::cl
