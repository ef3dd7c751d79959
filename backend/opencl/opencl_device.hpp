// opencl_device.hpp — the OpenCL backend's Device: one context, one in-order profiling queue, cl_mem
// buffers, the program cache and the kernels of the ops (quantize/dequantize live in cl_convert.cpp).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/device.hpp"
#include "backend/gemm_plan.hpp"
#include "backend/recycle_bin.hpp"
#include "backend/opencl/cl_platform.hpp"
#include "backend/opencl/cl_native.hpp"
#include "backend/opencl/cl_util.hpp"
#include "backend/opencl/program_cache.hpp"

namespace lowbit::detail::cl {

// Released alloc_pooled buffers awaiting reuse: each waits behind a marker enqueued at its release, so it is
// handed out again only after every command enqueued before then (all that could use it) has finished.
struct ClBufferPool {
  std::mutex mu;
  cl_command_queue queue = nullptr;  // null once the device is gone: released buffers are just freed
  Event last;  // the last command enqueued on the (in-order) queue: a released buffer's ticket
  RecycleBin<Mem, Event> bin{uint64_t(256) << 20};
  uint64_t hits = 0;
};

struct ClBuffer final : DeviceBuffer {
  Mem mem;
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

  const DeviceInfo& info() const override { return info_; }
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

  void quantize(const QuantizeArgs& a) override;  // cl_convert.cpp
  void dequantize(const DequantizeArgs& a) override;
  void gemm(const GemmArgs& a) override;  // cl_gemm.cpp
  void gather_columns(const GatherArgs& a) override;
  void gemm_w4a8(const GemmW4A8Args& a) override;  // cl_gemm_w4a8.cpp
  void copy(const CopyArgs& a) override;  // clEnqueueCopyBuffer, profiled
  void kv_append(const KvAppendArgs& a) override;  // cl_kv_append.cpp
  void attention(const AttentionArgs& a) override;

  // For in-tree peers (cl_native.hpp): the queue, and adding a command's profiling event to
  // the device's timing (the device takes ownership of `e`).
  cl_command_queue queue() const { return queue_.get(); }
  void record_external(cl_event e) { record(e); }

  ProgramCacheStats program_stats() const { return programs_->stats(); }

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
};

}  // namespace lowbit::detail::cl
