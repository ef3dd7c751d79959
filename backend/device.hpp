// device.hpp — the op table every backend implements (CPU, Vulkan, OpenCL).
//
// The host layer (host/) validates every argument and then calls one of these virtuals with plain,
// already-checked sizes; a backend only records/executes work. Adding an op = one Args struct here,
// one virtual, one implementation per backend, one reference on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit::detail {

// Device memory of one backend. Sizes are in bytes; backends round allocations up to 16 bytes so
// kernels may touch whole 32-bit words at the end.
struct DeviceBuffer {
  virtual ~DeviceBuffer() = default;
  size_t size = 0;
};

// quantize: src [rows, cols] (fp32/fp16/bf16) -> codes (+ scales, + tensor scale).
struct QuantizeArgs {
  const FormatInfo* fmt = nullptr;
  int src_elem = 0;  // LB_FMT_F32 / LB_FMT_F16 / LB_FMT_BF16
  const DeviceBuffer* src = nullptr;
  DeviceBuffer* codes = nullptr;         // rows * (packed ? packed_row_bytes : cols) bytes
  DeviceBuffer* scales = nullptr;        // rows * ceil(cols / block) bytes (MX, NVFP4)
  DeviceBuffer* tensor_scale = nullptr;  // one fp32 (NVFP4): written by the op
  uint64_t rows = 0, cols = 0;
  bool saturate = true;
  bool packed = false;
  bool tensor_scale_given = false;  // NVFP4: use tensor_scale_bits instead of amax / 2688
  uint32_t tensor_scale_bits = 0;
};

// dequantize: codes (+ scales, + tensor scale) -> dst [rows, cols] (fp32/fp16/bf16).
struct DequantizeArgs {
  const FormatInfo* fmt = nullptr;
  int out_elem = 0;  // LB_FMT_F32 / LB_FMT_F16 / LB_FMT_BF16
  const DeviceBuffer* codes = nullptr;
  const DeviceBuffer* scales = nullptr;
  const DeviceBuffer* tensor_scale = nullptr;
  DeviceBuffer* dst = nullptr;
  uint64_t rows = 0, cols = 0;
  bool packed = false;
};

// gemm: y[M,N] = x[M,K] · W[N,K]ᵀ (+ bias), weights fp16 or int4 (lowbit/w4.hpp layout).
struct GemmArgs {
  bool w4 = false;
  const DeviceBuffer* x = nullptr;       // F16 [m, k] (already gathered by perm for act_order)
  const DeviceBuffer* w = nullptr;       // F16 [n, k] or U32 qweight [ceil(k/8), n]
  const DeviceBuffer* scales = nullptr;  // F16 [k/group, n] (w4)
  const DeviceBuffer* zeros = nullptr;   // U8 [k/group, n] (w4 asym) or null = symmetric (zero 8)
  const DeviceBuffer* bias = nullptr;    // F16 [n] or null
  DeviceBuffer* y = nullptr;             // [m, n] of out_elem
  int out_elem = 0;                      // LB_FMT_F16 or LB_FMT_F32
  uint64_t m = 0, n = 0, k = 0;
  int group = 0;
  GemmPath path = GemmPath::Gemv;        // resolved (never Auto)
  int split_k = 0;                       // 0 = backend's choice
};

// gather: out[m, j] = x[m, perm[j]] for fp16 x [m, k] (act_order activations).
struct GatherArgs {
  const DeviceBuffer* x = nullptr;
  const DeviceBuffer* perm = nullptr;  // I32 [k]
  DeviceBuffer* out = nullptr;
  uint64_t m = 0, k = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const DeviceInfo& info() const = 0;

  virtual std::shared_ptr<DeviceBuffer> alloc(size_t bytes) = 0;
  // Host -> device copy; ordered after queued work that reads the buffer.
  virtual void write(DeviceBuffer& b, size_t offset, const void* src, size_t bytes) = 0;
  // Device -> host copy; waits for all queued work first.
  virtual void read(const DeviceBuffer& b, size_t offset, void* dst, size_t bytes) = 0;

  virtual void submit() = 0;  // hand recorded work to the device
  virtual void wait() = 0;    // submit and block until the device is idle
  virtual void reset_timing() = 0;
  virtual double device_ms() = 0;  // device time of ops since reset_timing (waits)
  virtual std::vector<std::string> diagnostics() const { return {}; }

  // ---- ops ----
  virtual void quantize(const QuantizeArgs& a) = 0;
  virtual void dequantize(const DequantizeArgs& a) = 0;
  virtual void gemm(const GemmArgs& a) { unsupported("gemm"); }
  virtual void gather_columns(const GatherArgs& a) { unsupported("gather_columns"); }
  // Whether this backend runs a path on this device (the host falls back from CoopMatrix to Tiled).
  virtual bool supports(GemmPath p) const { return p != GemmPath::CoopMatrix; }

 protected:
  [[noreturn]] void unsupported(const char* op) const {
    throw Error(ErrorCode::Unsupported, std::string(op) + " is not implemented on the " + to_string(info().backend) + " backend yet");
  }
};

// Factories (backend/<name>/). They throw lowbit::Error(NotFound/Unsupported) with a reason.
std::shared_ptr<Device> create_cpu_device(const ContextOptions& o);
std::shared_ptr<Device> create_vulkan_device(const ContextOptions& o);
std::shared_ptr<Device> create_opencl_device(const ContextOptions& o);
BackendReport probe_cpu();
BackendReport probe_vulkan();
BackendReport probe_opencl();

// Picks the device matching `selector` (index or case-insensitive name substring) among `n` names;
// throws NotFound listing the candidates.
size_t select_device(const std::vector<std::string>& names, const std::string& selector, Backend b);

}  // namespace lowbit::detail
