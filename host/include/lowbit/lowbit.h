/* lowbit.h — the C API (C11) over lowbit's C++ library, for C programs and foreign-function interfaces
 * (Python ctypes, Rust, Go, C#, ...). It has no C++ types: every object is an opaque handle, every
 * function returns a lowbit_status, and on failure lowbit_last_error() gives the message.
 *
 *   lowbit_context* ctx = NULL;
 *   if (lowbit_context_create(NULL, &ctx) != LOWBIT_OK) fprintf(stderr, "%s\n", lowbit_last_error());
 *   int64_t shape[2] = {rows, cols};
 *   lowbit_buffer* x = NULL;
 *   lowbit_buffer_upload(ctx, LOWBIT_DTYPE_F32, shape, 2, data, sizeof data, &x);
 *   lowbit_qtensor* q = NULL;
 *   lowbit_quantize(ctx, x, LOWBIT_FORMAT_MXFP4, NULL, &q);     // NULL options = the defaults
 *   ...
 *   lowbit_qtensor_destroy(q); lowbit_buffer_destroy(x); lowbit_context_destroy(ctx);
 *
 * Conventions:
 * - Results come back through the last pointer argument(s) (`out`), written only on success. A handle
 *   returned by a function is owned by the caller and released with its *_destroy function; destroy
 *   functions accept NULL. Handles may be destroyed in any order: a buffer, quantized tensor, W4 / W4A8
 *   layer, int8 activations, recording or KV cache keeps its context's device alive until it is destroyed.
 * - An options pointer may be NULL for the defaults; lowbit_*_options_init fills a struct with them.
 * - A NULL handle, an out-of-range enum value, a bad shape, or a handle made by another context is
 *   LOWBIT_ERROR_INVALID_ARGUMENT with a message naming the function and the argument. No C++ exception
 *   ever crosses this API.
 * - Threads: the rules of the C++ API (lowbit/lowbit.hpp) apply: a context may be called from several
 *   threads at once (its calls are serialised by the device's lock); a KV cache has no lock of its own
 *   (one thread at a time, or under your lock); a handle must not be destroyed while another thread uses
 *   it. lowbit_last_error() is per thread.
 * - Layouts, formats and op semantics are those of the C++ API (lowbit/lowbit.hpp, lowbit/w4.hpp,
 *   lowbit/attention.hpp); shapes are row-major, given as an int64_t array and its rank. */
#ifndef LOWBIT_H
#define LOWBIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LOWBIT_API __attribute__((visibility("default")))
#else
#define LOWBIT_API
#endif

/* ---- status and errors ------------------------------------------------------------------------- */
/* Mirrors lowbit::ErrorCode (LOWBIT_OK aside). */
typedef enum lowbit_status {
  LOWBIT_OK = 0,
  LOWBIT_ERROR_INVALID_ARGUMENT = 1, /* bad shape, dtype, option, NULL handle */
  LOWBIT_ERROR_UNSUPPORTED = 2,      /* the device/driver lacks a feature the op needs */
  LOWBIT_ERROR_NOT_FOUND = 3,        /* no such device / backend / tensor */
  LOWBIT_ERROR_OUT_OF_MEMORY = 4,
  LOWBIT_ERROR_DEVICE_LOST = 5,
  LOWBIT_ERROR_IO = 6,               /* file missing, unreadable, corrupt or not writable */
  LOWBIT_ERROR_BACKEND = 7,          /* a driver call failed unexpectedly */
  LOWBIT_ERROR_INTERNAL = 8
} lowbit_status;

/* The message of the last call on this thread that failed ("" when none has); valid until the next
 * lowbit call on this thread. Every function that returns a lowbit_status clears it first. */
LOWBIT_API const char* lowbit_last_error(void);
/* "ok", "invalid argument", ... ("unknown status" for other values). */
LOWBIT_API const char* lowbit_status_string(lowbit_status s);
/* The library's version, e.g. "0.1.0". */
LOWBIT_API const char* lowbit_version(void);
/* Vulkan validation-layer / driver messages of this process so far (LOWBIT_VK_VALIDATION=1). */
LOWBIT_API lowbit_status lowbit_validation_message_count(uint64_t* out);

/* ---- enums (values mirror the C++ enums) ------------------------------------------------------ */
typedef enum lowbit_backend {
  LOWBIT_BACKEND_AUTO = 0, /* the best available: Vulkan, then OpenCL, then CPU */
  LOWBIT_BACKEND_VULKAN = 1,
  LOWBIT_BACKEND_OPENCL = 2,
  LOWBIT_BACKEND_CPU = 3
} lowbit_backend;

typedef enum lowbit_dtype {
  LOWBIT_DTYPE_F32 = 0, LOWBIT_DTYPE_F16 = 1, LOWBIT_DTYPE_BF16 = 2, LOWBIT_DTYPE_U8 = 3,
  LOWBIT_DTYPE_I8 = 4, LOWBIT_DTYPE_I32 = 5, LOWBIT_DTYPE_U32 = 6, LOWBIT_DTYPE_F64 = 7,
  LOWBIT_DTYPE_I64 = 8
} lowbit_dtype;

typedef enum lowbit_format {
  LOWBIT_FORMAT_E4M3 = 0, LOWBIT_FORMAT_E5M2 = 1, LOWBIT_FORMAT_E4M3FNUZ = 2, LOWBIT_FORMAT_E5M2FNUZ = 3,
  LOWBIT_FORMAT_MXFP8_E4M3 = 4, LOWBIT_FORMAT_MXFP8_E5M2 = 5, LOWBIT_FORMAT_MXFP6_E3M2 = 6,
  LOWBIT_FORMAT_MXFP6_E2M3 = 7, LOWBIT_FORMAT_MXFP4 = 8, LOWBIT_FORMAT_MXINT8 = 9, LOWBIT_FORMAT_NVFP4 = 10
} lowbit_format;

typedef enum lowbit_gemm_path {
  LOWBIT_GEMM_PATH_AUTO = 0, LOWBIT_GEMM_PATH_GEMV = 1, LOWBIT_GEMM_PATH_TILED = 2,
  LOWBIT_GEMM_PATH_COOP_MATRIX = 3
} lowbit_gemm_path;

typedef enum lowbit_kv_format {
  LOWBIT_KV_FORMAT_F16 = 0, LOWBIT_KV_FORMAT_INT8 = 1, LOWBIT_KV_FORMAT_INT4 = 2,
  LOWBIT_KV_FORMAT_E4M3 = 3, LOWBIT_KV_FORMAT_E5M2 = 4
} lowbit_kv_format;

/* ---- handles ------------------------------------------------------------------------------------ */
typedef struct lowbit_context lowbit_context;   /* one device on one backend, with its stream */
typedef struct lowbit_buffer lowbit_buffer;     /* device memory holding a typed, shaped tensor */
typedef struct lowbit_qtensor lowbit_qtensor;   /* a quantized tensor: codes (+ scales, + tensor scale) */
typedef struct lowbit_w4_layer lowbit_w4_layer; /* device-resident int4 weights of a linear layer */
typedef struct lowbit_kv_cache lowbit_kv_cache; /* a paged, quantized KV cache */
typedef struct lowbit_act_int8 lowbit_act_int8; /* per-token int8 activations: codes, scales, row sums */
typedef struct lowbit_w4a8_layer lowbit_w4a8_layer; /* device-resident QoQ (W4A8) weights of a linear layer */
typedef struct lowbit_recording lowbit_recording;   /* ops being recorded into an application's VkCommandBuffer */

/* ---- contexts ----------------------------------------------------------------------------------- */
typedef struct lowbit_context_options {
  lowbit_backend backend;
  const char* device;    /* index ("1") or case-insensitive name substring; NULL or "" = the first */
  const char* cache_dir; /* pipeline / program cache; NULL or "" = $LOWBIT_CACHE_DIR or the XDG cache */
  uint32_t timeout_ms;   /* Vulkan: longest wait for queued work; 0 = $LOWBIT_VK_TIMEOUT_MS or 120000 */
  uint64_t staging_limit; /* Vulkan: staging bytes queued before a flush; 0 = default (64 MiB) */
  /* Most bytes of device memory the context's buffers may hold at once; past it an allocation fails with
   * LOWBIT_ERROR_OUT_OF_MEMORY and the context stays usable. 0 = $LOWBIT_DEVICE_MEMORY_LIMIT or no limit. */
  uint64_t device_memory_limit;
  /* Batch-invariant mode (README "Deterministic mode"); false = $LOWBIT_DETERMINISTIC=1 turns it on. */
  bool deterministic;
  /* Tuning database (JSON); NULL or "" = $LOWBIT_TUNING_DB or <cache dir>/tuning.json. */
  const char* tuning_db;
  /* TEST ONLY (fault injection): the N-th submit or wait of queued work fails as a lost device would (GPU
   * backends); 0 = $LOWBIT_TEST_DEVICE_LOST_AT or never. Not for applications. */
  uint64_t test_device_lost_at;
} lowbit_context_options;

LOWBIT_API lowbit_status lowbit_context_options_init(lowbit_context_options* o);
/* opts NULL = the defaults (backend auto, first device). */
LOWBIT_API lowbit_status lowbit_context_create(const lowbit_context_options* opts, lowbit_context** out);
LOWBIT_API lowbit_status lowbit_context_destroy(lowbit_context* ctx);
/* Whether the context runs in deterministic (batch-invariant) mode (the option or $LOWBIT_DETERMINISTIC). */
LOWBIT_API lowbit_status lowbit_context_deterministic(const lowbit_context* ctx, bool* out);

typedef struct lowbit_device_info {
  lowbit_backend backend;
  int32_t index;
  /* Strings stay valid while the context lives. */
  const char* name;
  const char* type;
  const char* vendor;
  const char* driver_version;
  const char* api_version;
  uint32_t subgroup_size;
  uint32_t max_workgroup_size;
  uint64_t shared_memory_bytes;
  uint64_t max_buffer_range; /* largest range one storage binding / cl_mem may cover */
  bool fp16;
  bool int8;
  bool integer_dot_product;
  bool cooperative_matrix;
  /* PCI-style vendor / device id (DeviceInfo::vendor_id / device_id; 0 = unknown). */
  uint32_t vendor_id;
  uint32_t device_id;
} lowbit_device_info;

LOWBIT_API lowbit_status lowbit_context_device_info(const lowbit_context* ctx, lowbit_device_info* out);

/* Stream control: submit the queued work; wait for it; device time (ms) of everything since the last reset. */
LOWBIT_API lowbit_status lowbit_submit(lowbit_context* ctx);
LOWBIT_API lowbit_status lowbit_wait(lowbit_context* ctx);
LOWBIT_API lowbit_status lowbit_reset_timing(lowbit_context* ctx);
LOWBIT_API lowbit_status lowbit_timing(lowbit_context* ctx, double* device_ms);

/* ---- buffers ------------------------------------------------------------------------------------ */
/* Uninitialised memory for a tensor of dtype and shape[rank] (rank 0 = a scalar). */
LOWBIT_API lowbit_status lowbit_buffer_alloc(lowbit_context* ctx, lowbit_dtype dtype, const int64_t* shape,
                                             size_t rank, lowbit_buffer** out);
/* A new buffer holding `bytes` bytes from `data` (must be exactly the tensor's size). */
LOWBIT_API lowbit_status lowbit_buffer_upload(lowbit_context* ctx, lowbit_dtype dtype, const int64_t* shape,
                                              size_t rank, const void* data, size_t bytes, lowbit_buffer** out);
/* Copies the buffer's bytes (waiting for the ops that write it); `bytes` must be its size. */
LOWBIT_API lowbit_status lowbit_buffer_download(lowbit_context* ctx, const lowbit_buffer* b, void* dst,
                                                size_t bytes);
/* A new handle over the same memory with another dtype/shape (not larger than the buffer). */
LOWBIT_API lowbit_status lowbit_buffer_view(const lowbit_buffer* b, lowbit_dtype dtype, const int64_t* shape,
                                            size_t rank, lowbit_buffer** out);
/* Device-side copy of src's bytes into dst (same byte size). */
LOWBIT_API lowbit_status lowbit_buffer_copy(lowbit_context* ctx, const lowbit_buffer* src, lowbit_buffer* dst);
LOWBIT_API lowbit_status lowbit_buffer_destroy(lowbit_buffer* b);

LOWBIT_API lowbit_status lowbit_buffer_dtype(const lowbit_buffer* b, lowbit_dtype* out);
LOWBIT_API lowbit_status lowbit_buffer_bytes(const lowbit_buffer* b, size_t* out);
/* Writes the rank to *rank and min(rank, capacity) dimensions to dims (dims may be NULL when capacity is 0). */
LOWBIT_API lowbit_status lowbit_buffer_shape(const lowbit_buffer* b, int64_t* dims, size_t capacity,
                                             size_t* rank);

/* ---- quantize / dequantize (FP8, MX, NVFP4) ---------------------------------------------------- */
typedef struct lowbit_quantize_options {
  bool saturate;              /* FP8 formats only: false maps overflow to NaN (E4M3, fnuz) or inf (E5M2) */
  bool packed;                /* pack codes along the last dimension (FP4: 2/byte, FP6: 4 per 3 bytes) */
  bool has_nvfp4_tensor_scale; /* NVFP4: use nvfp4_tensor_scale instead of amax/(448*6) */
  float nvfp4_tensor_scale;
} lowbit_quantize_options;

/* Defaults: saturate, unpacked, computed tensor scale. */
LOWBIT_API lowbit_status lowbit_quantize_options_init(lowbit_quantize_options* o);
/* x: F32, F16 or BF16 of any shape; blocks run along the last dimension. */
LOWBIT_API lowbit_status lowbit_quantize(lowbit_context* ctx, const lowbit_buffer* x, lowbit_format format,
                                         const lowbit_quantize_options* opts, lowbit_qtensor** out);
/* Into a quantized tensor made by lowbit_qtensor_alloc (its format, packing and shape are checked). */
LOWBIT_API lowbit_status lowbit_quantize_into(lowbit_context* ctx, const lowbit_buffer* x, lowbit_qtensor* q,
                                              const lowbit_quantize_options* opts);
/* out_dtype: F32, F16 or BF16. */
LOWBIT_API lowbit_status lowbit_dequantize(lowbit_context* ctx, const lowbit_qtensor* q, lowbit_dtype out_dtype,
                                           lowbit_buffer** out);
LOWBIT_API lowbit_status lowbit_dequantize_into(lowbit_context* ctx, const lowbit_qtensor* q, lowbit_buffer* out);

/* An uninitialised quantized tensor of the original shape[rank]. */
LOWBIT_API lowbit_status lowbit_qtensor_alloc(lowbit_context* ctx, lowbit_format format, const int64_t* shape,
                                              size_t rank, bool packed, lowbit_qtensor** out);
/* A quantized tensor over existing buffers (e.g. codes read from a file): codes U8, scales U8 (MX / NVFP4,
 * else NULL), tensor_scale F32 [1] (NVFP4, else NULL). Their shapes are checked by the ops that read them. */
LOWBIT_API lowbit_status lowbit_qtensor_wrap(lowbit_format format, bool packed, const int64_t* shape, size_t rank,
                                             const lowbit_buffer* codes, const lowbit_buffer* scales,
                                             const lowbit_buffer* tensor_scale, lowbit_qtensor** out);
LOWBIT_API lowbit_status lowbit_qtensor_destroy(lowbit_qtensor* q);
LOWBIT_API lowbit_status lowbit_qtensor_format(const lowbit_qtensor* q, lowbit_format* format, bool* packed);
/* New buffer handles over the tensor's parts (release each with lowbit_buffer_destroy). scales and
 * tensor_scale give *out = NULL for a format that has none. */
LOWBIT_API lowbit_status lowbit_qtensor_codes(const lowbit_qtensor* q, lowbit_buffer** out);
LOWBIT_API lowbit_status lowbit_qtensor_scales(const lowbit_qtensor* q, lowbit_buffer** out);
LOWBIT_API lowbit_status lowbit_qtensor_tensor_scale(const lowbit_qtensor* q, lowbit_buffer** out);

/* Format facts: CLI name ("mxfp4"), parse a name, packed bytes of a row of n codes, scales per row of n. */
LOWBIT_API lowbit_status lowbit_format_name(lowbit_format format, const char** out);
LOWBIT_API lowbit_status lowbit_format_parse(const char* name, lowbit_format* out);
LOWBIT_API lowbit_status lowbit_format_packed_row_bytes(lowbit_format format, uint64_t n, uint64_t* out);
LOWBIT_API lowbit_status lowbit_format_scales_per_row(lowbit_format format, uint64_t n, uint64_t* out);

/* ---- linear layers: Y[M,N] = X[M,K] · W[N,K]^T (+ bias[N]), fp32 accumulation ------------------- */
typedef struct lowbit_gemm_options {
  lowbit_gemm_path path;
  lowbit_dtype out; /* F16 (default) or F32 */
  int32_t split_k;  /* K slices reduced in a second pass; 0 = automatic */
  int32_t stages;   /* tiled K pipeline depth: 0 = the device's default, 1 = serial */
} lowbit_gemm_options;

/* Defaults: path auto, F16 output, automatic split-K and stages. */
LOWBIT_API lowbit_status lowbit_gemm_options_init(lowbit_gemm_options* o);
/* x: F16 [M, K]; w: F16 [N, K]; bias: F16 or F32 [N] (added in fp32) or NULL. */
LOWBIT_API lowbit_status lowbit_gemm_f16(lowbit_context* ctx, const lowbit_buffer* x, const lowbit_buffer* w,
                                         const lowbit_buffer* bias, const lowbit_gemm_options* opts,
                                         lowbit_buffer** out);

/* Host arrays of an int4 layer in lowbit's layout (lowbit/w4.hpp, layout version 1):
 *   qweight uint32 [ceil(k/8) * n], scales fp16 bits [k/group * n], zeros uint8 [k/group * n]
 *   (asymmetric only, else NULL), perm int32 [k] (act_order only, else NULL). */
typedef struct lowbit_w4_host {
  int64_t n, k;
  int32_t group; /* rows of K per scale (== k for per output channel) */
  bool sym;
  const uint32_t* qweight;
  const uint16_t* scales;
  const uint8_t* zeros;
  const int32_t* perm;
} lowbit_w4_host;

/* Element counts of a layer's host arrays for n, k, group (-1 = per output channel) and sym; *group_out
 * is the resolved group. Any of the outputs may be NULL. */
LOWBIT_API lowbit_status lowbit_w4_sizes(int64_t n, int64_t k, int32_t group, bool sym, int32_t* group_out,
                                         size_t* qweight_words, size_t* scales_count, size_t* zeros_count);
/* Round-to-nearest int4 quantization of fp32 w[n, k] into caller arrays of the sizes lowbit_w4_sizes gives
 * (their lengths are passed and checked; zeros NULL / 0 when sym): asymmetric min-max per group, or
 * symmetric absmax (scale = absmax / 7, zero 8). */
LOWBIT_API lowbit_status lowbit_w4_quantize_rtn(const float* w, int64_t n, int64_t k, int32_t group, bool sym,
                                                uint32_t* qweight, size_t qweight_words, uint16_t* scales,
                                                size_t scales_count, uint8_t* zeros, size_t zeros_count);
/* Validates and uploads a layer; bias_f16: fp16 bits [n] or NULL. */
LOWBIT_API lowbit_status lowbit_w4_upload(lowbit_context* ctx, const lowbit_w4_host* host, const uint16_t* bias_f16,
                                          lowbit_w4_layer** out);
LOWBIT_API lowbit_status lowbit_w4_layer_destroy(lowbit_w4_layer* layer);
/* x: F16 [M, K]. */
LOWBIT_API lowbit_status lowbit_gemm_w4a16(lowbit_context* ctx, const lowbit_buffer* x, const lowbit_w4_layer* layer,
                                           const lowbit_gemm_options* opts, lowbit_buffer** out);

/* The path auto resolves to for m rows on this device. */
LOWBIT_API lowbit_status lowbit_choose_gemm_path(const lowbit_context* ctx, int64_t m, lowbit_gemm_path* out);

typedef struct lowbit_gemm_launch {
  char kernel[64]; /* e.g. "gemm_gemv"; "" before the first GEMM */
  uint64_t workgroups;
  uint32_t invocations_per_workgroup;
  uint32_t shared_bytes;
  uint32_t stages;
  uint32_t split_k;
  uint32_t k_partitions;
} lowbit_gemm_launch;
/* Launch geometry of the context's last GEMM. */
LOWBIT_API lowbit_status lowbit_last_gemm_launch(const lowbit_context* ctx, lowbit_gemm_launch* out);

/* ---- paged KV cache and attention (lowbit/attention.hpp) --------------------------------------- */
typedef struct lowbit_kv_cache_options {
  int32_t layers;    /* default 1 */
  int32_t num_pages; /* physical pages per layer */
  int32_t page_size; /* tokens per page, default 16 */
  int32_t kv_heads;
  int32_t head_dim;  /* 64, 80, 96, 128 or 256 */
  lowbit_kv_format format;
  /* FP8 only: one scale per tensor (count 1) or per kv head; NULL / 0 = {1.0}. */
  const float* k_scale;
  size_t k_scale_count;
  const float* v_scale;
  size_t v_scale_count;
} lowbit_kv_cache_options;

LOWBIT_API lowbit_status lowbit_kv_cache_options_init(lowbit_kv_cache_options* o);
LOWBIT_API lowbit_status lowbit_kv_cache_create(lowbit_context* ctx, const lowbit_kv_cache_options* opts,
                                                lowbit_kv_cache** out);
LOWBIT_API lowbit_status lowbit_kv_cache_destroy(lowbit_kv_cache* cache);
/* A new, empty sequence; *id is its id. */
LOWBIT_API lowbit_status lowbit_kv_cache_add_sequence(lowbit_kv_cache* cache, int32_t* id);
/* The sequence's pages go back to the free list. */
LOWBIT_API lowbit_status lowbit_kv_cache_free_sequence(lowbit_kv_cache* cache, int32_t id);
LOWBIT_API lowbit_status lowbit_kv_cache_length(const lowbit_kv_cache* cache, int32_t id, int32_t* tokens);
LOWBIT_API lowbit_status lowbit_kv_cache_free_pages(const lowbit_kv_cache* cache, int32_t* pages);
/* Grows each sequence seqs[i] by counts[i] tokens (i < n); LOWBIT_ERROR_OUT_OF_MEMORY when no page is left. */
LOWBIT_API lowbit_status lowbit_kv_cache_extend(lowbit_kv_cache* cache, const int32_t* seqs, const int32_t* counts,
                                                size_t n);
/* Shuffles the free list, so pages are handed out in a scattered order. */
LOWBIT_API lowbit_status lowbit_kv_cache_scatter_free_pages(lowbit_kv_cache* cache, uint32_t seed);
/* The physical page of each logical page of sequence id: *count of them, min(count, capacity) written. */
LOWBIT_API lowbit_status lowbit_kv_cache_pages(const lowbit_kv_cache* cache, int32_t id, int32_t* pages,
                                               size_t capacity, size_t* count);

/* Writes the LAST counts[i] tokens of each sequence seqs[i] (after lowbit_kv_cache_extend) into `layer`:
 * k, v F16 [sum(counts), kv_heads, head_dim], sequences in order. */
LOWBIT_API lowbit_status lowbit_kv_append(lowbit_context* ctx, lowbit_kv_cache* cache, int32_t layer,
                                          const int32_t* seqs, const int32_t* counts, size_t n,
                                          const lowbit_buffer* k, const lowbit_buffer* v);

typedef struct lowbit_attention_options {
  bool causal;       /* prefill; default true */
  int32_t window;    /* > 0: sliding window of W keys (implies causal) */
  float softcap;     /* > 0: s = C * tanh(s / C) */
  bool has_scale;    /* false: 1/sqrt(head_dim) */
  float scale;
  bool out_f32;      /* default true; false: F16 output */
  int32_t split_pages; /* decode split-K: pages per split (0 = automatic) */
} lowbit_attention_options;

LOWBIT_API lowbit_status lowbit_attention_options_init(lowbit_attention_options* o);
/* Attention of q F16 [sum(q_counts), H_q, head_dim] over the whole cached length of each sequence seqs[i]
 * in `layer`; decode path when every q_counts[i] is 1. *out: [sum(q_counts), H_q, head_dim]. */
LOWBIT_API lowbit_status lowbit_attention(lowbit_context* ctx, const lowbit_buffer* q, lowbit_kv_cache* cache,
                                          int32_t layer, const int32_t* seqs, const int32_t* q_counts, size_t n,
                                          const lowbit_attention_options* opts, lowbit_buffer** out);

/* ---- W4A8: int8 activations x QoQ weights (lowbit/w4a8.hpp, README "W4A8") ----------------------- */
typedef struct lowbit_act_quant_options {
  const lowbit_buffer* rms_weight; /* F16 or F32 [K]: RMSNorm before quantization; NULL = none */
  float eps;                       /* RMSNorm epsilon, finite and >= 0; default 1e-6 */
} lowbit_act_quant_options;

LOWBIT_API lowbit_status lowbit_act_quant_options_init(lowbit_act_quant_options* o);
/* x: F16 or F32 [M, K] -> per-token int8 codes I8 [M, K], scales F32 [M], row sums I32 [M] (bit-identical
 * on every backend). */
LOWBIT_API lowbit_status lowbit_quantize_activations_int8(lowbit_context* ctx, const lowbit_buffer* x,
                                                          const lowbit_act_quant_options* opts, lowbit_act_int8** out);
/* New buffer handles over its parts (each may be NULL when not wanted; release with lowbit_buffer_destroy). */
LOWBIT_API lowbit_status lowbit_act_int8_buffers(const lowbit_act_int8* a, lowbit_buffer** codes,
                                                 lowbit_buffer** scales, lowbit_buffer** sums);
LOWBIT_API lowbit_status lowbit_act_int8_destroy(lowbit_act_int8* a);

/* Host arrays of a QoQ layer in lowbit's layout (version 1): qweight uint32 [ceil(k/8) * n] (QoQ nibble
 * order), s1 fp16 bits [n], s2 uint8 [k/group * n] and zeros uint8 [k/group * n] (both NULL when
 * per_channel). */
typedef struct lowbit_qoq_host {
  int64_t n, k;
  int32_t group;    /* rows of K per level-2 scale (== k when per_channel) */
  bool per_channel; /* symmetric 4-bit per output channel: s2 = 1, z = 8, not stored */
  const uint32_t* qweight;
  const uint16_t* s1;
  const uint8_t* s2;
  const uint8_t* zeros;
} lowbit_qoq_host;

typedef struct lowbit_qoq_report {
  int64_t level1_clamped; /* weights whose level-1 code rounded past 119 and was clamped */
  int64_t s1_overflow;    /* channels whose s1 exceeded the fp16 range (clamped to 65504) */
} lowbit_qoq_report;

/* Element counts of a QoQ layer's host arrays for n, k and group (-1 = per output channel); *group_out is the
 * resolved group, *per_channel whether it is per channel (s2 / zeros counts 0). Any output may be NULL. */
LOWBIT_API lowbit_status lowbit_qoq_sizes(int64_t n, int64_t k, int32_t group, int32_t* group_out, bool* per_channel,
                                          size_t* qweight_words, size_t* s1_count, size_t* s2_count,
                                          size_t* zeros_count);
/* QoQ quantization of fp32 w[n, k] into caller arrays of the sizes lowbit_qoq_sizes gives (lengths passed and
 * checked; s2 / zeros NULL, 0 when per channel); report may be NULL. */
LOWBIT_API lowbit_status lowbit_qoq_quantize(const float* w, int64_t n, int64_t k, int32_t group, uint32_t* qweight,
                                             size_t qweight_words, uint16_t* s1, size_t s1_count, uint8_t* s2,
                                             size_t s2_count, uint8_t* zeros, size_t zeros_count,
                                             lowbit_qoq_report* report);
/* Validates and uploads a layer; bias_f16: fp16 bits [n] or NULL. */
LOWBIT_API lowbit_status lowbit_qoq_upload(lowbit_context* ctx, const lowbit_qoq_host* host, const uint16_t* bias_f16,
                                           lowbit_w4a8_layer** out);
LOWBIT_API lowbit_status lowbit_w4a8_layer_destroy(lowbit_w4a8_layer* layer);
/* Y[M, N] = (acc * a.scales[m]) * s1[n] (+ bias), acc the exact int32 dot product; opts->out F16 or F32.
 * Bit-identical on every backend. */
LOWBIT_API lowbit_status lowbit_gemm_w4a8(lowbit_context* ctx, const lowbit_act_int8* a, const lowbit_w4a8_layer* layer,
                                          const lowbit_gemm_options* opts, lowbit_buffer** out);

/* ---- embedding in an engine (lowbit/interop.hpp, README "Embedding lowbit in an engine") -------------
 * No <vulkan/vulkan.h> / <CL/cl.h> here: dispatchable Vulkan handles (VkInstance, VkPhysicalDevice,
 * VkDevice, VkQueue, VkCommandBuffer) and OpenCL objects travel as void*, non-dispatchable Vulkan handles
 * (VkBuffer, VkPipelineCache) as uint64_t. */
typedef struct lowbit_vulkan_import {
  void* instance;        /* VkInstance */
  void* physical_device; /* VkPhysicalDevice */
  void* device;          /* VkDevice: Vulkan 1.2, storageBuffer8BitAccess and storageBuffer16BitAccess enabled */
  uint32_t queue_family; /* must support compute */
  void* queue;           /* VkQueue of queue_family; lowbit submits its own work here */
  /* Bracket every vkQueueSubmit lowbit makes (both or neither). */
  void (*queue_lock)(void* user);
  void (*queue_unlock)(void* user);
  void* queue_lock_user;
  uint64_t pipeline_cache;      /* optional VkPipelineCache; 0 = none */
  const void* enabled_features; /* the pNext chain given to vkCreateDevice (VkPhysicalDeviceFeatures2, ...) */
  const char* const* enabled_extensions; /* e.g. "VK_KHR_push_descriptor" */
  size_t enabled_extension_count;
} lowbit_vulkan_import;

typedef struct lowbit_opencl_import {
  void* context; /* cl_context */
  void* device;  /* cl_device_id of context */
  void* queue;   /* cl_command_queue of context on device (in-order or out-of-order) */
} lowbit_opencl_import;

/* Usage bits of a VkBuffer (as VkBufferUsageFlagBits): storage is required. */
typedef enum lowbit_vk_buffer_usage {
  LOWBIT_VK_USAGE_TRANSFER_SRC = 0x1,
  LOWBIT_VK_USAGE_TRANSFER_DST = 0x2,
  LOWBIT_VK_USAGE_STORAGE = 0x20
} lowbit_vk_buffer_usage;

typedef struct lowbit_vulkan_buffer_ref {
  uint64_t buffer; /* VkBuffer */
  uint64_t offset; /* the tensor's first byte */
  uint64_t range;  /* bytes it may bind */
} lowbit_vulkan_buffer_ref;

/* Zeroes the struct (no handles, no locks, no extensions). */
LOWBIT_API lowbit_status lowbit_vulkan_import_init(lowbit_vulkan_import* v);
/* A context on the application's own device / OpenCL context; opts: cache_dir, timeout_ms, staging_limit,
 * device_memory_limit, deterministic, tuning_db apply (backend and device are ignored); NULL = defaults.
 * lowbit never destroys the application's objects. */
LOWBIT_API lowbit_status lowbit_context_import_vulkan(const lowbit_vulkan_import* app, const lowbit_context_options* opts,
                                                      lowbit_context** out);
LOWBIT_API lowbit_status lowbit_context_import_opencl(const lowbit_opencl_import* app, const lowbit_context_options* opts,
                                                      lowbit_context** out);
/* Vulkan: until the recording ends, every op of ctx only records into command_buffer (a VkCommandBuffer the
 * application has begun and will end and submit). Destroy the recording only once the command buffer has
 * finished executing (it keeps the memory the recorded commands use); destroying an open one ends it. */
LOWBIT_API lowbit_status lowbit_record_into(lowbit_context* ctx, void* command_buffer, lowbit_recording** out);
LOWBIT_API lowbit_status lowbit_recording_end(lowbit_recording* r);
LOWBIT_API lowbit_status lowbit_recording_destroy(lowbit_recording* r);
/* A buffer over the application's memory, used in place; lowbit never frees it. Vulkan: vk_buffer from
 * offset, range bytes, created with usage (lowbit_vk_buffer_usage bits). OpenCL: mem (cl_mem) from offset. */
LOWBIT_API lowbit_status lowbit_buffer_wrap_vulkan(lowbit_context* ctx, uint64_t vk_buffer, uint64_t offset,
                                                   uint64_t range, uint32_t usage, lowbit_dtype dtype,
                                                   const int64_t* shape, size_t rank, lowbit_buffer** out);
LOWBIT_API lowbit_status lowbit_buffer_wrap_opencl(lowbit_context* ctx, void* mem, uint64_t offset, lowbit_dtype dtype,
                                                   const int64_t* shape, size_t rank, lowbit_buffer** out);
/* The API object behind any buffer of ctx (still lowbit's), for the application's own commands. */
LOWBIT_API lowbit_status lowbit_buffer_vulkan(const lowbit_context* ctx, const lowbit_buffer* b,
                                              lowbit_vulkan_buffer_ref* out);
LOWBIT_API lowbit_status lowbit_buffer_opencl(const lowbit_context* ctx, const lowbit_buffer* b, void** out);
/* OpenCL: lowbit's next command waits for events[0..n) (cl_event; the application keeps its references). */
LOWBIT_API lowbit_status lowbit_opencl_wait_for(lowbit_context* ctx, void* const* events, size_t n);
/* OpenCL: a new reference (release it with clReleaseEvent) to an event that completes when lowbit's last
 * command has. */
LOWBIT_API lowbit_status lowbit_opencl_last_event(lowbit_context* ctx, void** out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LOWBIT_H */
