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
#include "lowbit/tuning.hpp"

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
  const DeviceBuffer* bias = nullptr;    // F16 or F32 [n] (bias_f32), or null
  bool bias_f32 = false;
  DeviceBuffer* y = nullptr;             // [m, n] of out_elem
  int out_elem = 0;                      // LB_FMT_F16 or LB_FMT_F32
  uint64_t m = 0, n = 0, k = 0;
  int group = 0;
  GemmPath path = GemmPath::Gemv;        // resolved (never Auto)
  int split_k = 0;                       // 0 = backend's choice
  int stages = 0;                        // Tiled / CoopMatrix: 0 = default, 1 = serial K loop
  KernelConfig config;                   // tuned / overridden knobs (lowbit/tuning.hpp); empty = heuristic
};

// gather: out[m, j] = x[m, perm[j]] for fp16 x [m, k] (act_order activations).
struct GatherArgs {
  const DeviceBuffer* x = nullptr;
  const DeviceBuffer* perm = nullptr;  // I32 [k]
  DeviceBuffer* out = nullptr;
  uint64_t m = 0, k = 0;
};

// copy: dst[0, bytes) = src[0, bytes) on the device (timed like a kernel; bench's bandwidth peak).
struct CopyArgs {
  const DeviceBuffer* src = nullptr;
  DeviceBuffer* dst = nullptr;
  uint64_t bytes = 0;
};

// One layer of a paged KV cache as the kernels see it (lowbit/attention.hpp).
struct KvLayerArgs {
  int format = 0;  // KvFormat as int: 0 F16, 1 Int8, 2 Int4, 3 E4M3, 4 E5M2
  uint32_t num_pages = 0, page_size = 0, kv_heads = 0, head_dim = 0;
  bool fp8_per_head = false;
  DeviceBuffer* k = nullptr;        // codes [pages, P, Hkv, D] (Int4: D/2 bytes per row)
  DeviceBuffer* v = nullptr;
  DeviceBuffer* k_scale = nullptr;  // Int8/Int4: fp16 [pages, P, Hkv]; FP8: fp32 [Hkv] or [1]
  DeviceBuffer* k_zero = nullptr;   // Int8/Int4: fp16 [pages, P, Hkv]
  DeviceBuffer* v_scale = nullptr;
  DeviceBuffer* v_zero = nullptr;
};

// kv_append: quantize new rows and write them into their slots.
struct KvAppendArgs {
  KvLayerArgs kv;
  const DeviceBuffer* k_new = nullptr;  // F16 [tokens, Hkv, D]
  const DeviceBuffer* v_new = nullptr;
  const DeviceBuffer* slots = nullptr;  // I32 [tokens]: physical page * P + offset in page
  uint64_t tokens = 0;
  KernelConfig config;                  // knob: rows (per workgroup)
};

// attention over the cache for a batch of sequences.
struct AttentionArgs {
  KvLayerArgs kv;
  const DeviceBuffer* q = nullptr;            // F16 [total_q, Hq, D]
  const DeviceBuffer* q_start = nullptr;      // I32 [batch + 1]: queries of sequence b
  const DeviceBuffer* block_table = nullptr;  // I32 [batch, max_blocks]
  const DeviceBuffer* seq_lens = nullptr;     // I32 [batch]: keys of sequence b
  DeviceBuffer* out = nullptr;                // [total_q, Hq, D] fp32 or fp16
  bool out_f32 = true;
  uint32_t batch = 0, q_heads = 0, max_blocks = 0, total_q = 0, max_q = 0, max_kv = 0;
  bool decode = false;   // every sequence has exactly one query
  bool causal = true;
  int window = 0;
  float softcap = 0.0f, scale = 1.0f;
  int split_pages = 0;   // decode split-K (0 = backend's choice)
  KernelConfig config;   // decode knobs: keys (per step); split goes to split_pages
};

// Counters a backend keeps about its own machinery (tests check bounds with them).
struct DeviceStats {
  uint64_t staging_peak_bytes = 0;  // Vulkan: most bytes of staging buffers alive at once
  uint64_t staging_flushes = 0;     // Vulkan: waits forced by the staging limit
  uint64_t buffers_created = 0;     // Vulkan / OpenCL: API buffer objects created (vkCreateBuffer, clCreateBuffer)
  uint64_t pool_hits = 0;           // alloc_pooled calls served by a recycled buffer
  uint64_t command_buffers = 0;     // Vulkan: command buffers allocated by the stream (its ring)
  uint64_t full_waits = 0;          // Vulkan: times the stream waited for ALL submitted work (wait(), timing)
};

class TuningState;  // autotune/tuning_state.hpp: the tuning database's index and the last choice

class Device {
 public:
  virtual ~Device() = default;
  virtual const DeviceInfo& info() const = 0;

  virtual std::shared_ptr<DeviceBuffer> alloc(size_t bytes) = 0;
  // Memory for an op's result or scratch (GEMM outputs, split-K partials): from the backend's pool of
  // released buffers (size classes) where it keeps one. Contents are undefined. A released buffer is handed
  // out again only after the device finished every command recorded with it.
  virtual std::shared_ptr<DeviceBuffer> alloc_pooled(size_t bytes) { return alloc(bytes); }
  // Host -> device copy; ordered after queued work that reads the buffer.
  virtual void write(DeviceBuffer& b, size_t offset, const void* src, size_t bytes) = 0;
  // Device -> host copy; waits for all queued work first.
  virtual void read(const DeviceBuffer& b, size_t offset, void* dst, size_t bytes) = 0;

  virtual void submit() = 0;  // hand recorded work to the device
  virtual void wait() = 0;    // submit and block until the device is idle
  virtual void reset_timing() = 0;
  virtual double device_ms() = 0;  // device time of ops since reset_timing (waits)
  virtual std::vector<std::string> diagnostics() const { return {}; }
  virtual DeviceStats stats() const { return {}; }
  // The API's device handle (VkDevice, cl_context), for interop and tests; null on the CPU.
  virtual void* native_handle() const { return nullptr; }

  // ---- ops ----
  virtual void quantize(const QuantizeArgs& a) = 0;
  virtual void dequantize(const DequantizeArgs& a) = 0;
  virtual void gemm(const GemmArgs& /*args*/) { unsupported("gemm"); }
  virtual void gather_columns(const GatherArgs& /*args*/) { unsupported("gather_columns"); }
  virtual void copy(const CopyArgs& /*args*/) { unsupported("copy"); }
  virtual void kv_append(const KvAppendArgs& /*args*/) { unsupported("kv_append"); }
  virtual void attention(const AttentionArgs& /*args*/) { unsupported("attention"); }
  // Whether this backend runs a path on this device (the host falls back from CoopMatrix to Tiled).
  virtual bool supports(GemmPath p) const { return p != GemmPath::CoopMatrix; }
  // Launch geometry of the last gemm() (backends fill it in gemm(); the CPU reports its own).
  virtual GemmLaunch last_gemm_launch() const { return last_launch_; }
  // Where ops look up their launch configuration (set by Context::create; null: the planners' heuristics).
  std::shared_ptr<TuningState> tuning;

 protected:
  [[noreturn]] void unsupported(const char* op) const {
    throw Error(ErrorCode::Unsupported, std::string(op) + " is not implemented on the " + to_string(info().backend) + " backend yet");
  }
  GemmLaunch last_launch_;  // set by gemm()
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
