// lowbit.hpp — the public C++20 API: contexts on a backend/device, typed buffers, streams and ops.
//
//   auto ctx = lowbit::Context::create({.backend = lowbit::Backend::Auto});
//   auto x = ctx.upload(lowbit::DType::F32, {rows, cols}, data);
//   auto q = ctx.quantize(x, lowbit::Format::MXFP4, {.packed = true});
//   std::vector<float> back = ctx.download<float>(ctx.dequantize(q, lowbit::DType::F32));
//
// Every op exists on every backend and validates its arguments, throwing lowbit::Error on bad input.
//
// Thread safety: a Context (and its copies, which share the device) may be called from several threads at
// once; its calls are serialised by one lock per device (see class Context). A Buffer is a shared handle:
// copies of it may be made and destroyed on any thread. A KvCache has no lock of its own: share one between
// threads only under a lock of yours.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "lowbit/attention.hpp"
#include "lowbit/formats.hpp"
#include "lowbit/tuning.hpp"
#include "lowbit/w4.hpp"
#include "lowbit/w4a8.hpp"

// The handle types of lowbit/interop.hpp's functions (VkCommandBuffer, cl_mem, cl_event).
struct VkCommandBuffer_T;
struct _cl_mem;
struct _cl_event;

namespace lowbit {

// ---- errors -------------------------------------------------------------------------------------
enum class ErrorCode {
  InvalidArgument,  // bad shape, dtype, option
  Unsupported,      // the device/driver lacks a feature the op needs
  NotFound,         // no such device / backend / tensor
  OutOfMemory,
  DeviceLost,
  Io,               // file missing, unreadable, corrupt or not writable
  Backend,          // a driver call failed unexpectedly
  Internal,
};
const char* to_string(ErrorCode c);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// ---- backends and devices -----------------------------------------------------------------------
enum class Backend { Auto, Vulkan, OpenCL, CPU };
const char* to_string(Backend b);
Backend parse_backend(const std::string& s);  // "auto"|"vulkan"|"opencl"|"cpu"; throws on others

struct DeviceInfo {
  Backend backend = Backend::CPU;
  int index = 0;
  std::string name, type, vendor, driver_version, api_version;
  // PCI-style ids: Vulkan vendorID / deviceID; OpenCL CL_DEVICE_VENDOR_ID and, where the platform reports
  // one (AMD / Intel attribute queries, cl_khr_pci_bus_info), the PCI device id; 0 = unknown (and the CPU backend).
  uint32_t vendor_id = 0, device_id = 0;
  uint32_t subgroup_size = 1;
  uint64_t shared_memory_bytes = 0;
  uint32_t max_workgroup_size = 1;
  uint64_t max_buffer_range = 0;  // largest range one storage binding / cl_mem may cover
  bool fp16 = false;              // fp16 arithmetic in kernels
  bool int8 = false;              // 8-bit storage / char arithmetic
  bool integer_dot_product = false;
  bool cooperative_matrix = false;  // coopmat_nv || coopmat_khr
  bool coopmat_nv = false;          // VK_NV_cooperative_matrix (extension + feature)
  bool coopmat_khr = false;         // VK_KHR_cooperative_matrix (NVIDIA, AMD RDNA3, Intel Arc)
  // Shapes each extension reports, e.g. "16x8x16 f16*f16+f32" (MxNxK A*B+C; "->R" when the result type differs)
  std::vector<std::string> coopmat_nv_shapes, coopmat_khr_shapes;
  // Vulkan: the prefill attention kernel where the head dim allows it, "cooperative matrix (KHR <shape>,
  // checked on first use)" or "scalar" (empty on other backends: their prefill is scalar)
  std::string prefill_attention;
};

struct BackendReport {
  Backend backend;
  bool available = false;
  std::string reason;  // why not available
  std::vector<DeviceInfo> devices;
};
// Probes every backend (never throws for a missing driver: that goes into `reason`).
std::vector<BackendReport> probe_backends();

// ---- tensors --------------------------------------------------------------------------------------
using Shape = std::vector<int64_t>;
int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);

namespace detail {
class Device;
struct DeviceBuffer;
struct KvCacheState;
struct Access;  // the library's own access to the internals (not part of the API)
}  // namespace detail

// Embedding in an engine (lowbit/interop.hpp defines these).
struct VulkanImport;
struct OpenClImport;
struct VulkanBufferRef;
class Recording;

// Device memory holding a tensor of `dtype` and `shape` (row-major). Cheap to copy (shared handle;
// copies may be made and destroyed on any thread).
class Buffer {
 public:
  Buffer() = default;
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return lowbit::numel(shape_); }
  size_t bytes() const { return bytes_; }
  bool valid() const { return mem_ != nullptr; }
  // A view with another shape/dtype over the same bytes (must not exceed them).
  Buffer view(DType dtype, Shape shape) const;
  const std::shared_ptr<detail::DeviceBuffer>& mem() const { return mem_; }

 private:
  friend class Context;
  std::shared_ptr<detail::DeviceBuffer> mem_;
  DType dtype_ = DType::U8;
  Shape shape_;
  size_t bytes_ = 0;
};

// A quantized tensor: codes (+ block scales, + tensor scale for NVFP4) and what they mean.
struct QTensor {
  Format format = Format::E4M3;
  bool packed = false;
  Shape shape;           // shape of the original tensor
  Buffer codes;          // U8: shape (unpacked) or [..., packed_row_bytes] (packed)
  Buffer scales;         // U8 [..., ceil(last/block)] for MX / NVFP4, invalid for FP8
  Buffer tensor_scale;   // F32 [1] for NVFP4
};

struct QuantizeOptions {
  bool saturate = true;  // FP8 formats only: false maps overflow to NaN (E4M3, fnuz) or inf (E5M2)
  bool packed = false;   // pack codes along the last dimension (FP4: 2/byte, FP6: 4 per 3 bytes)
  std::optional<float> nvfp4_tensor_scale;  // NVFP4: use this instead of amax/(448*6)
};

// ---- linear layers: Y[M,N] = X[M,K] · W[N,K]ᵀ (+ bias[N]), fp32 accumulation -----------------
// Device-resident int4 weights in lowbit's layout (lowbit/w4.hpp); made by Context::upload_w4.
struct W4Layer {
  int64_t n = 0, k = 0;
  int group = 0;
  bool sym = true;
  Buffer qweight;  // U32 [ceil(k/8), n]
  Buffer scales;   // F16 [k/group, n]
  Buffer zeros;    // U8 [k/group, n] (asymmetric only)
  Buffer perm;     // I32 [k] (act_order only)
  Buffer bias;     // F16 or F32 [n] (optional; an F32 bias is added at fp32 precision)
};

// W4A8: per-token int8 activations (Context::quantize_activations_int8) times QoQ weights (lowbit/w4a8.hpp).
struct ActInt8 {
  Buffer codes;   // I8 [M, K]: q = clamp(round_half_even(x / scale), -127, 127)
  Buffer scales;  // F32 [M]: absmax / 127 (1 for an all-zero row; NaN when the row holds NaN or inf)
  Buffer sums;    // I32 [M]: Σ_k q
};
struct ActQuantOptions {
  Buffer rms_weight;  // F16 or F32 [K]: RMSNorm (x * rsqrt(mean(x²) + eps) * weight) before quantization; invalid = none
  float eps = 1e-6f;
};
// Device-resident QoQ weights (made by Context::upload_qoq); per-channel layers carry s2 = 1, zeros = 8.
struct W4A8Layer {
  int64_t n = 0, k = 0;
  int group = 0;             // == k for per-channel
  bool per_channel = false;
  Buffer qweight;  // U32 [ceil(k/8), n] (QoQ nibble order)
  Buffer s1;       // F16 [n]
  Buffer s2;       // U8 [k/group, n]
  Buffer zeros;    // U8 [k/group, n]
  Buffer bias;     // F16 or F32 [n] (optional)
};

// Gemv: small M (memory-bound, split-K); Tiled: shared-memory tiles with a multi-stage pipeline;
// CoopMatrix: tiled on cooperative-matrix hardware. Auto picks by M and device.
enum class GemmPath { Auto, Gemv, Tiled, CoopMatrix };
const char* to_string(GemmPath p);
struct GemmOptions {
  GemmPath path = GemmPath::Auto;
  DType out = DType::F16;  // F16 or F32
  int split_k = 0;         // K slices reduced in a second pass; 0 = automatic (the launch planner)
  int stages = 0;          // Tiled / CoopMatrix K pipeline: 0 = the device's default depth, 1 = serial
                           // (load, dequantize, multiply one after another: what the pipeline hides)
};

// How the last GEMM was launched (Context::last_gemm_launch): enough to see how the device is covered.
struct GemmLaunch {
  std::string kernel;                      // e.g. "gemm_gemv", "gemm_tiled", "gemm_coopmat"
  uint64_t workgroups = 0;                 // of the main dispatch(es), all K slices included
  uint32_t invocations_per_workgroup = 0;
  uint32_t shared_bytes = 0;               // shared (local) memory per workgroup
  uint32_t stages = 0;                     // K-pipeline depth (1 = serial)
  uint32_t split_k = 1;                    // K slices (> 1: a reduce pass follows)
  uint32_t k_partitions = 1;               // GEMV: invocations of a workgroup that share columns and split K
  uint32_t gemv_variant = 0;               // int4 GEMV: 1 staged, 2 K-partitioned, 3 lane-reduced (KernelConfig::variant)
};

// Time of the work measured on the device (GPU timestamps / profiling events / wall clock on CPU).
struct Timing {
  double device_ms = 0;
};

// A paged KV cache on one context's device (layout and semantics: lowbit/attention.hpp). Sequences
// grow with extend(); their pages come from a free list and return to it with free_sequence().
// Not thread-safe: it has no lock of its own; use it from one thread at a time (or under your lock).
class KvCache {
 public:
  KvCache() = default;
  const KvCacheOptions& options() const;
  int add_sequence();                // a new, empty sequence; returns its id
  void free_sequence(int id);        // its pages go back to the free list
  int length(int id) const;          // tokens held
  int free_pages() const;
  // Grows each sequence seqs[i] by counts[i] tokens, taking pages from the free list; throws
  // Error(OutOfMemory) naming the sequence when the cache has no free page left.
  void extend(std::span<const int> seqs, std::span<const int> counts);
  // Shuffles the free list, so pages are handed out in a scattered order.
  void scatter_free_pages(uint32_t seed);
  const std::vector<int32_t>& pages(int id) const;  // physical page of each logical page

 private:
  friend class Context;
  friend struct detail::Access;
  std::shared_ptr<detail::KvCacheState> s_;
};

struct ContextOptions {
  Backend backend = Backend::Auto;
  std::string device;     // index ("1") or case-insensitive name substring; empty = first
  std::string cache_dir;  // pipeline / program cache; empty = $LOWBIT_CACHE_DIR or XDG cache dir
  // Vulkan: longest wait for queued work before the device counts as lost (Error DeviceLost);
  // 0 = $LOWBIT_VK_TIMEOUT_MS or 120000.
  uint32_t timeout_ms = 0;
  // Vulkan: most bytes of staging copies (uploads to memory the host cannot map) queued before lowbit
  // submits them and waits; 0 = $LOWBIT_VK_STAGING_LIMIT or 64 MiB.
  uint64_t staging_limit = 0;
  // Most bytes of device memory the context's buffers may hold at once (every backend; buffers alive, those
  // waiting in the pool for reuse, and those waiting for the work that uses them to finish; Vulkan staging
  // copies are bounded by staging_limit instead). Past it an allocation throws Error(OutOfMemory) naming
  // the size and what is alive, and the context stays usable. 0 = $LOWBIT_DEVICE_MEMORY_LIMIT or no limit.
  uint64_t device_memory_limit = 0;
  // Deterministic (batch-invariant) mode: row i of gemm_f16 / gemm_w4a16 and of decode attention is
  // bit-identical whether computed alone or in a batch: the GEMMs always take the tiled path with K
  // slices from K alone, decode attention splits by context length alone (README "Deterministic mode").
  // false = $LOWBIT_DETERMINISTIC=1 turns it on.
  bool deterministic = false;
  // TEST ONLY (fault injection): the N-th submit or wait of queued work (1-based, counted per context)
  // fails as VK_ERROR_DEVICE_LOST / CL_OUT_OF_RESOURCES would, so the context becomes lost. GPU backends.
  // 0 = $LOWBIT_TEST_DEVICE_LOST_AT or never.
  uint64_t test_device_lost_at = 0;
  // Tuning database (JSON) the ops consult; empty = $LOWBIT_TUNING_DB or <cache dir>/tuning.json.
  std::string tuning_db;
};

// One device on one backend; owns its buffers, pipelines and the default stream.
//
// Threads: a Context (and copies of it, which share the device) may be used from several threads at
// once. Its calls are serialised by one lock per device (stream, pipeline and program caches, buffer
// pools): they never race, but they do not run in parallel either — give threads their own Contexts for
// that. Buffers may be released on any thread. A KvCache is not locked: share one between threads only
// under your own lock. Once the device is lost (Error DeviceLost), every later call throws DeviceLost.
class Context {
 public:
  static Context create(const ContextOptions& opts = {});
  // A Context on the application's own device (lowbit/interop.hpp); opts.cache_dir / timeout_ms /
  // staging_limit apply, backend and device are ignored.
  static Context import_vulkan(const VulkanImport& app, const ContextOptions& opts = {});
  static Context import_opencl(const OpenClImport& app, const ContextOptions& opts = {});
  Backend backend() const;
  const DeviceInfo& device_info() const;
  bool deterministic() const;  // ContextOptions::deterministic / $LOWBIT_DETERMINISTIC

  Buffer alloc(DType dtype, Shape shape);
  Buffer upload(DType dtype, Shape shape, const void* data, size_t bytes);
  void download(const Buffer& b, void* dst, size_t bytes);
  template <class T>
  std::vector<T> download(const Buffer& b) {
    std::vector<T> out(b.bytes() / sizeof(T));
    download(b, out.data(), out.size() * sizeof(T));
    return out;
  }

  // Device-side copy of src's bytes into dst (same byte size; dtype/shape may differ). Timed like an op.
  void copy(const Buffer& src, Buffer& dst);

  // Ops (enqueued on the context's stream; downloads wait for them).
  QTensor quantize(const Buffer& x, Format f, const QuantizeOptions& o = {});
  Buffer dequantize(const QTensor& q, DType out = DType::F32);
  // In-place forms writing into caller-provided buffers (shapes are checked).
  void quantize_into(const Buffer& x, QTensor& out, const QuantizeOptions& o = {});
  void dequantize_into(const QTensor& q, Buffer& out);
  QTensor alloc_qtensor(Format f, Shape shape, bool packed);

  // Linear layers. x: F16 [M, K]; w: F16 [N, K]; bias: F16 or F32 [N] (added in fp32), or an invalid Buffer.
  Buffer gemm_f16(const Buffer& x, const Buffer& w, const Buffer& bias = {}, const GemmOptions& o = {});
  Buffer gemm_w4a16(const Buffer& x, const W4Layer& w, const GemmOptions& o = {});
  // Uploads a packed layer (validated); bias: fp16 bits [n] or empty.
  W4Layer upload_w4(const W4Host& h, const std::vector<uint16_t>& bias_f16 = {});
  // W4A8 (lowbit/w4a8.hpp). x: F16 or F32 [M, K] -> per-token int8 codes, scales and row sums (bit-identical
  // on every backend).
  ActInt8 quantize_activations_int8(const Buffer& x, const ActQuantOptions& o = {});
  W4A8Layer upload_qoq(const QoqHost& h, const std::vector<uint16_t>& bias_f16 = {});
  // Y = (acc * a.scales[m]) * s1[n] (+ bias), acc the exact int32 dot product; o.out F16 or F32.
  Buffer gemm_w4a8(const ActInt8& a, const W4A8Layer& w, const GemmOptions& o = {});
  // The path Auto resolves to for M rows on this device.
  GemmPath choose_gemm_path(int64_t m) const;
  // Launch geometry of the last gemm_f16 / gemm_w4a16 on this context (empty kernel before the first).
  GemmLaunch last_gemm_launch() const;
  // The kernel the last attention on this context ran (Vulkan: "attention_prefill", "attention_prefill_coopmat_khr",
  // "attention_decode", "attention_decode_sg"; empty before the first and on backends that do not name theirs).
  std::string last_attention_kernel() const;

  // Launch configurations (lowbit/tuning.hpp). Every tuned op (GEMMs, decode attention, kv_append) looks
  // its configuration up at dispatch: override -> tuning database -> shipped defaults -> heuristic.
  // set_kernel_config forces one for every following op (nullopt: back to the lookup); the autotuner
  // launches its candidates this way. last_kernel_choice: what the last tuned op used, and why.
  void set_kernel_config(std::optional<KernelConfig> c);
  KernelChoice last_kernel_choice() const;
  std::string tuning_db_path() const;
  void reload_tuning();  // re-read the tuning database at the next lookup

  // Paged KV cache and attention (lowbit/attention.hpp).
  KvCache create_kv_cache(const KvCacheOptions& o);
  // Writes the LAST counts[i] tokens of each sequence seqs[i] (after KvCache::extend) into `layer`:
  // k, v float16 [sum(counts), H_kv, D], sequences in order. Quantizes on the device.
  void kv_append(KvCache& c, int layer, std::span<const int> seqs, std::span<const int> counts, const Buffer& k,
                 const Buffer& v);
  // Attention of q float16 [sum(q_counts), H_q, D] over the whole cached length of each sequence
  // seqs[i] in `layer`; decode path when every q_counts[i] is 1. Returns [sum(q_counts), H_q, D].
  Buffer attention(const Buffer& q, KvCache& c, int layer, std::span<const int> seqs, std::span<const int> q_counts,
                   const AttentionOptions& o = {});

  // Stream control: submit queued work, wait for it; device time of everything since last reset.
  void submit();
  void wait();
  void reset_timing();
  Timing timing();

  // Embedding (lowbit/interop.hpp). Vulkan: until the Recording ends, ops record into `command_buffer`
  // (which the application has begun and will end and submit) instead of lowbit's queue.
  Recording record_into(::VkCommandBuffer_T* command_buffer);
  // A Buffer over the application's memory; lowbit never frees it. Vulkan: `vk_buffer` (vk_handle_bits)
  // from `offset`, `range` bytes, created with `usage` (VulkanBufferUsage bits; storage required).
  Buffer wrap_vulkan_buffer(uint64_t vk_buffer, uint64_t offset, uint64_t range, uint32_t usage, DType dtype,
                            Shape shape);
  Buffer wrap_opencl_buffer(::_cl_mem* mem, uint64_t offset, DType dtype, Shape shape);
  // The API object behind a Buffer, for the application's own commands (still owned by lowbit).
  VulkanBufferRef vulkan_buffer(const Buffer& b) const;
  ::_cl_mem* opencl_buffer(const Buffer& b) const;
  // OpenCL: lowbit's next command waits for these events (the application keeps its references).
  void opencl_wait_for(std::span<::_cl_event* const> events);
  // OpenCL: an event that completes when lowbit's last enqueued command has; the caller releases it.
  ::_cl_event* opencl_last_event();

  // Validation / driver messages seen so far (Vulkan validation layer when enabled).
  std::vector<std::string> diagnostics() const;

 private:
  friend struct detail::Access;
  // alloc(), or with `pooled` from the device's pool of recycled op results (contents undefined).
  Buffer alloc_buffer(DType dtype, Shape shape, bool pooled);
  Buffer wrap(std::shared_ptr<detail::DeviceBuffer> mem, DType dtype, Shape shape);
  std::shared_ptr<detail::Device> dev_;
};

// Every Vulkan validation-layer / driver message (warning or error) of this process, from all Contexts,
// including those raised while a Context is destroyed (which its diagnostics() cannot show). The count
// is exact; the texts of the first 1000 are kept: validation_messages(first) returns those from index
// `first` on.
uint64_t validation_message_count();
std::vector<std::string> validation_messages(uint64_t first = 0);

}  // namespace lowbit
