// c_boundary.cpp — the C API's error state (thread-local last message), status names, and the argument
// checks every C entry point uses.
#include "host/c_api/c_boundary.hpp"

#include <type_traits>

#include "host/internal_access.hpp"

namespace lowbit::c_api {

static_assert(std::is_same_v<int32_t, int>, "the C API passes int32_t arrays as the C++ API's int");
static_assert(int(ErrorCode::InvalidArgument) + 1 == LOWBIT_ERROR_INVALID_ARGUMENT &&
                  int(ErrorCode::Unsupported) + 1 == LOWBIT_ERROR_UNSUPPORTED &&
                  int(ErrorCode::NotFound) + 1 == LOWBIT_ERROR_NOT_FOUND &&
                  int(ErrorCode::OutOfMemory) + 1 == LOWBIT_ERROR_OUT_OF_MEMORY &&
                  int(ErrorCode::DeviceLost) + 1 == LOWBIT_ERROR_DEVICE_LOST && int(ErrorCode::Io) + 1 == LOWBIT_ERROR_IO &&
                  int(ErrorCode::Backend) + 1 == LOWBIT_ERROR_BACKEND &&
                  int(ErrorCode::Internal) + 1 == LOWBIT_ERROR_INTERNAL,
              "lowbit_status mirrors lowbit::ErrorCode");
static_assert(int(DType::I64) == LOWBIT_DTYPE_I64 && int(DType::F16) == LOWBIT_DTYPE_F16 &&
              int(Format::NVFP4) == LOWBIT_FORMAT_NVFP4 && int(Format::MXFP4) == LOWBIT_FORMAT_MXFP4 &&
              int(Backend::CPU) == LOWBIT_BACKEND_CPU && int(GemmPath::CoopMatrix) == LOWBIT_GEMM_PATH_COOP_MATRIX &&
              int(KvFormat::E5M2) == LOWBIT_KV_FORMAT_E5M2, "C enums mirror the C++ enums");
static_assert(uint32_t(kVkUsageTransferSrc) == LOWBIT_VK_USAGE_TRANSFER_SRC &&
                  uint32_t(kVkUsageTransferDst) == LOWBIT_VK_USAGE_TRANSFER_DST &&
                  uint32_t(kVkUsageStorage) == LOWBIT_VK_USAGE_STORAGE,
              "lowbit_vk_buffer_usage mirrors lowbit::VulkanBufferUsage");
static_assert(sizeof(lowbit_qoq_report) == sizeof(QoqReport) &&
                  std::is_same_v<decltype(lowbit_qoq_report::level1_clamped), decltype(QoqReport::level1_clamped)> &&
                  std::is_same_v<decltype(lowbit_qoq_report::s1_overflow), decltype(QoqReport::s1_overflow)>,
              "lowbit_qoq_report mirrors lowbit::QoqReport");
static_assert(sizeof(lowbit_vulkan_buffer_ref) == sizeof(VulkanBufferRef), "lowbit_vulkan_buffer_ref mirrors VulkanBufferRef");
// lowbit_context_options must carry every ContextOptions field: a new C++ field changes the size and fails here.
struct ContextOptionsFields {
  Backend backend;
  std::string device, cache_dir;
  uint32_t timeout_ms;
  uint64_t staging_limit, device_memory_limit;
  bool deterministic;
  uint64_t test_device_lost_at;
  std::string tuning_db;
};
static_assert(sizeof(ContextOptionsFields) == sizeof(ContextOptions),
              "lowbit_context_options covers ContextOptions: update it (and context_options()) for a new field");

namespace {

thread_local std::string last_error;

template <class E>
E checked_enum(int v, int last, const char* fn, const char* what) {
  if (v < 0 || v > last) invalid(fn, "unknown " + std::string(what) + " " + std::to_string(v));
  return static_cast<E>(v);
}

constexpr size_t kMaxRank = 32;

}  // namespace

void clear_last_error() noexcept { last_error.clear(); }

lowbit_status fail(lowbit_status s, const char* message) noexcept {
  try {
    last_error = message;
  } catch (...) {
    last_error.clear();  // no memory even for the message: the status still says what happened
  }
  return s;
}

lowbit_status fail(lowbit_status s, const char* fn, const char* message) noexcept {
  try {
    return fail(s, (std::string(fn) + ": " + message).c_str());
  } catch (...) {
    return fail(s, message);
  }
}

void invalid(const char* fn, const std::string& what) {
  throw Error(ErrorCode::InvalidArgument, std::string(fn) + ": " + what);
}

void same_context(const Context& ctx, const Context& owner, const char* fn, const char* name) {
  if (&detail::device_of(ctx) != &detail::device_of(owner))
    invalid(fn, std::string(name) + " belongs to another context");
}

const Buffer& need_buffer(const Context& ctx, const lowbit_buffer* b, const char* fn, const char* name) {
  same_context(ctx, need(b, fn, name).owner, fn, name);
  return b->buf;
}

Buffer optional_buffer(const Context& ctx, const lowbit_buffer* b, const char* fn, const char* name) {
  return b ? need_buffer(ctx, b, fn, name) : Buffer{};
}

Shape to_shape(const int64_t* shape, size_t rank, const char* fn) {
  if (rank > kMaxRank) invalid(fn, "rank " + std::to_string(rank) + " exceeds " + std::to_string(kMaxRank));
  if (rank && !shape) invalid(fn, "shape is NULL with rank " + std::to_string(rank));
  return Shape(shape, shape + rank);
}

DType to_dtype(lowbit_dtype d, const char* fn) { return checked_enum<DType>(d, LOWBIT_DTYPE_I64, fn, "dtype"); }
Format to_format(lowbit_format f, const char* fn) {
  return checked_enum<Format>(f, LOWBIT_FORMAT_NVFP4, fn, "format");
}
GemmPath to_gemm_path(lowbit_gemm_path p, const char* fn) {
  return checked_enum<GemmPath>(p, LOWBIT_GEMM_PATH_COOP_MATRIX, fn, "GEMM path");
}
KvFormat to_kv_format(lowbit_kv_format f, const char* fn) {
  return checked_enum<KvFormat>(f, LOWBIT_KV_FORMAT_E5M2, fn, "KV format");
}

ContextOptions context_options(const lowbit_context_options* opts, const char* fn) {
  lowbit_context_options o{};
  if (opts) o = *opts;
  if (o.backend < LOWBIT_BACKEND_AUTO || o.backend > LOWBIT_BACKEND_CPU)
    invalid(fn, "unknown backend " + std::to_string(int(o.backend)));
  ContextOptions co;
  co.backend = static_cast<Backend>(o.backend);
  co.device = o.device ? o.device : "";
  co.cache_dir = o.cache_dir ? o.cache_dir : "";
  co.timeout_ms = o.timeout_ms;
  co.staging_limit = o.staging_limit;
  co.device_memory_limit = o.device_memory_limit;
  co.deterministic = o.deterministic;
  co.tuning_db = o.tuning_db ? o.tuning_db : "";
  co.test_device_lost_at = o.test_device_lost_at;
  return co;
}

GemmOptions gemm_options(const lowbit_gemm_options* o, const char* fn) {
  GemmOptions g;
  if (!o) return g;
  g.path = to_gemm_path(o->path, fn);
  g.out = to_dtype(o->out, fn);
  g.split_k = o->split_k;
  g.stages = o->stages;
  return g;
}

std::span<const int> int_array(const int32_t* a, size_t n, const char* fn, const char* name) {
  if (n && !a) invalid(fn, std::string(name) + " is NULL with n = " + std::to_string(n));
  return {a, n};
}

}  // namespace lowbit::c_api

extern "C" const char* lowbit_last_error(void) { return lowbit::c_api::last_error.c_str(); }

extern "C" const char* lowbit_status_string(lowbit_status s) {
  if (s == LOWBIT_OK) return "ok";
  if (s < LOWBIT_ERROR_INVALID_ARGUMENT || s > LOWBIT_ERROR_INTERNAL) return "unknown status";
  return lowbit::to_string(static_cast<lowbit::ErrorCode>(int(s) - 1));
}
