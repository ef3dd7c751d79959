// device.hpp — the op table every backend implements (CPU, Vulkan, OpenCL).
//
// The host layer (host/) validates every argument and then calls one of these virtuals with plain,
// already-checked sizes; a backend only records/executes work. Adding an op = one Args struct here,
// one virtual, one implementation per backend, one reference on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backend/gemm_plan.hpp"
#include "lowbit/interop.hpp"
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
  KernelConfig config;  // tuned / overridden knobs (family convert: wg, elems; backend/convert_plan.hpp)
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
  KernelConfig config;  // tuned / overridden knobs (family convert: wg, elems; backend/convert_plan.hpp)
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
  // Deterministic mode: path and split_k were fixed by the host (backend/deterministic.hpp) and must be
  // launched as given (a tuner may change only what deterministic_gemm_allowed accepts).
  bool deterministic = false;
  KernelConfig config;                   // tuned / overridden knobs (lowbit/tuning.hpp); empty = heuristic
};

// quantize_activations_int8: x [m, k] (fp16/fp32) -> int8 codes, fp32 scales, int32 row sums (lowbit.hpp ActInt8),
// optionally after RMSNorm with weight [k] (fp16/fp32).
struct ActQuantArgs {
  const DeviceBuffer* x = nullptr;
  int x_elem = 0;                            // LB_FMT_F16 or LB_FMT_F32
  const DeviceBuffer* rms_weight = nullptr;  // or null = no RMSNorm
  int rms_weight_elem = 0;                   // LB_FMT_F16 or LB_FMT_F32
  float eps = 1e-6f;
  DeviceBuffer* codes = nullptr;   // I8 [m, k]
  DeviceBuffer* scales = nullptr;  // F32 [m]
  DeviceBuffer* sums = nullptr;    // I32 [m]
  uint64_t m = 0, k = 0;
};

// gemm_w4a8: y[M,N] = (float(acc) * a_scale[m]) * s1[n] (+ bias), acc = Σ_k a[m,k] * (u - z) * s2 in int32
// (lowbit/w4a8.hpp layout).
struct GemmW4A8Args {
  const DeviceBuffer* a = nullptr;        // I8 [m, k]
  const DeviceBuffer* a_scale = nullptr;  // F32 [m]
  const DeviceBuffer* qweight = nullptr;  // U32 [ceil(k/8), n], QoQ nibble order
  const DeviceBuffer* s1 = nullptr;       // F16 [n]
  const DeviceBuffer* s2 = nullptr;       // U8 [k/group, n]
  const DeviceBuffer* zeros = nullptr;    // U8 [k/group, n]
  const DeviceBuffer* bias = nullptr;     // F16 or F32 [n] (bias_f32), or null
  bool bias_f32 = false;
  DeviceBuffer* y = nullptr;              // [m, n] of out_elem
  int out_elem = 0;                       // LB_FMT_F16 or LB_FMT_F32
  uint64_t m = 0, n = 0, k = 0;
  int group = 0;
  GemmPath path = GemmPath::Gemv;         // resolved (never Auto)
  int split_k = 0;                        // 0 = backend's choice
  KernelConfig config;                    // tuned / overridden knobs (families gemv_w4a8, tiled_w4a8)
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
  KernelConfig config;   // decode knobs: keys (per step), rows (query heads per workgroup, at most); split goes to
                         // split_pages; prefill: rows (BQ), keys (BK)
};

// Counters a backend keeps about its own machinery (tests check bounds with them).
struct DeviceStats {
  uint64_t staging_peak_bytes = 0;  // Vulkan: most bytes of staging buffers alive at once
  uint64_t staging_flushes = 0;     // Vulkan: waits forced by the staging limit
  uint64_t buffers_created = 0;     // Vulkan / OpenCL: API buffer objects created (vkCreateBuffer, clCreateBuffer)
  uint64_t pool_hits = 0;           // alloc_pooled calls served by a recycled buffer
  uint64_t command_buffers = 0;     // Vulkan: command buffers allocated by the stream (its ring)
  uint64_t full_waits = 0;          // Vulkan: times the stream waited for ALL submitted work (wait(), timing)
  uint64_t memory_bytes = 0;        // device memory counted against ContextOptions::device_memory_limit now
  uint64_t memory_buffers = 0;      // the allocations holding it
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
  virtual void quantize_activations_int8(const ActQuantArgs& /*args*/) { unsupported("quantize_activations_int8"); }
  virtual void gemm_w4a8(const GemmW4A8Args& /*args*/) { unsupported("gemm_w4a8"); }
  virtual void gather_columns(const GatherArgs& /*args*/) { unsupported("gather_columns"); }
  virtual void copy(const CopyArgs& /*args*/) { unsupported("copy"); }
  virtual void kv_append(const KvAppendArgs& /*args*/) { unsupported("kv_append"); }
  virtual void attention(const AttentionArgs& /*args*/) { unsupported("attention"); }
  // Whether this backend runs a path on this device (the host falls back from CoopMatrix to Tiled).
  virtual bool supports(GemmPath p) const { return p != GemmPath::CoopMatrix; }
  // Launch geometry of the last gemm() (backends fill it in gemm(); the CPU reports its own).
  virtual GemmLaunch last_gemm_launch() const { return last_launch_; }
  // What the launch planners (backend/gemm_plan.hpp) know of this device, for the autotuner to tell which
  // configs launch the same kernel; nullopt: its kernels take no launch knobs (the CPU reference).
  virtual std::optional<DeviceProfile> launch_profile() const { return std::nullopt; }
  // The kernel the last attention() ran (empty where the backend does not name it).
  std::string last_attention_kernel() const { return last_attention_kernel_; }
  // Why the device counts as lost (a failed or injected submit/wait, a timeout); empty while it works.
  virtual std::string lost_reason() const { return {}; }

  // Held by every Context call (host/device_call.hpp): one call at a time per device.
  std::recursive_mutex& call_mutex() { return call_mutex_; }
  bool deterministic() const { return deterministic_; }
  void set_deterministic(bool on) { deterministic_ = on; }

  // ---- embedding (lowbit/interop.hpp; Vulkan: vk_recording / OpenCL: cl_interop) ----
  // Record mode: ops record into the application's command buffer until end_recording(id); the memory
  // they use stays allocated until release_recording(id) (the application's command buffer finished).
  virtual uint64_t begin_recording(void* /*command_buffer*/) { not_embeddable("record_into"); }
  virtual void end_recording(uint64_t /*id*/) {}
  virtual void release_recording(uint64_t /*id*/) noexcept {}
  // A DeviceBuffer over application memory of at least `bytes` (checked), never freed by lowbit.
  virtual std::shared_ptr<DeviceBuffer> wrap_vulkan(uint64_t /*buffer*/, uint64_t /*offset*/, uint64_t /*range*/,
                                                    uint32_t /*usage*/, size_t /*bytes*/) {
    not_embeddable("wrap_vulkan_buffer");
  }
  virtual std::shared_ptr<DeviceBuffer> wrap_opencl(void* /*mem*/, uint64_t /*offset*/, size_t /*bytes*/) {
    not_embeddable("wrap_opencl_buffer");
  }
  virtual VulkanBufferRef vulkan_buffer(const DeviceBuffer& /*b*/) const { not_embeddable("vulkan_buffer"); }
  virtual void* opencl_buffer(const DeviceBuffer& /*b*/) const { not_embeddable("opencl_buffer"); }
  virtual void opencl_wait_for(const std::vector<void*>& /*events*/) { not_embeddable("opencl_wait_for"); }
  virtual void* opencl_last_event() { not_embeddable("opencl_last_event"); }
  // Where ops look up their launch configuration (set by Context::create; null: the planners' heuristics).
  std::shared_ptr<TuningState> tuning;

 protected:
  [[noreturn]] void unsupported(const char* op) const {
    throw Error(ErrorCode::Unsupported, std::string(op) + " is not implemented on the " + to_string(info().backend) + " backend yet");
  }
  [[noreturn]] void not_embeddable(const char* op) const {
    throw Error(ErrorCode::Unsupported, std::string(op) + " is not available on the " + to_string(info().backend) +
                                            " backend");
  }
  GemmLaunch last_launch_;  // set by gemm()
  std::string last_attention_kernel_;  // set by attention()

 private:
  std::recursive_mutex call_mutex_;
  bool deterministic_ = false;
};

// Factories (backend/<name>/). They throw lowbit::Error(NotFound/Unsupported) with a reason.
std::shared_ptr<Device> create_cpu_device(const ContextOptions& o);
std::shared_ptr<Device> create_vulkan_device(const ContextOptions& o);
std::shared_ptr<Device> create_opencl_device(const ContextOptions& o);
// Vulkan contexts whose destruction gave up waiting for their work and leaked the device (tests).
uint64_t vulkan_abandoned_devices();
// On the application's device (lowbit/interop.hpp); throw InvalidArgument / Unsupported naming what is wrong.
std::shared_ptr<Device> import_vulkan_device(const VulkanImport& app, const ContextOptions& o);
std::shared_ptr<Device> import_opencl_device(const OpenClImport& app, const ContextOptions& o);
BackendReport probe_cpu();
BackendReport probe_vulkan();
BackendReport probe_opencl();

// Picks the device matching `selector` (index or case-insensitive name substring) among `n` names;
// throws NotFound listing the candidates.
size_t select_device(const std::vector<std::string>& names, const std::string& selector, Backend b);

}  // namespace lowbit::detail
