// c_boundary.hpp — what every C API file shares: the structs behind the opaque handles, the guard that
// turns every exception into a lowbit_status + thread-local message, and argument checks (NULL handles,
// enum ranges, shapes, handles of another context).
#pragma once

#include <algorithm>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "lowbit/lowbit.h"
#include "lowbit/interop.hpp"
#include "lowbit/lowbit.hpp"

// Each handle keeps a copy of its Context (a shared handle), so the device outlives every handle made
// from it whatever order the caller destroys them in. `owner` is declared first: destroyed last.
struct lowbit_context {
  lowbit::Context ctx;
};
struct lowbit_buffer {
  lowbit::Context owner;
  lowbit::Buffer buf;
};
struct lowbit_qtensor {
  lowbit::Context owner;
  lowbit::QTensor q;
};
struct lowbit_w4_layer {
  lowbit::Context owner;
  lowbit::W4Layer layer;
};
struct lowbit_kv_cache {
  lowbit::Context owner;
  lowbit::KvCache cache;
};
struct lowbit_act_int8 {
  lowbit::Context owner;
  lowbit::ActInt8 act;
};
struct lowbit_w4a8_layer {
  lowbit::Context owner;
  lowbit::W4A8Layer layer;
};
struct lowbit_recording {
  lowbit::Context owner;
  lowbit::Recording rec;
};

namespace lowbit::c_api {

void clear_last_error() noexcept;
lowbit_status fail(lowbit_status s, const char* message) noexcept;
lowbit_status fail(lowbit_status s, const char* fn, const char* message) noexcept;  // "fn: message"

// Runs f(fn) (fn: the C function's name, for messages; inside a lambda __func__ would be "operator()");
// any exception becomes a status and the thread's last error. Nothing escapes into C.
template <class F>
lowbit_status guarded(const char* fn, F&& f) noexcept {
  clear_last_error();
  try {
    f(fn);
    return LOWBIT_OK;
  } catch (const Error& e) {
    return fail(static_cast<lowbit_status>(int(e.code()) + 1), e.what());
  } catch (const std::bad_alloc&) {
    return fail(LOWBIT_ERROR_OUT_OF_MEMORY, fn, "out of host memory");
  } catch (const std::exception& e) {
    return fail(LOWBIT_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(LOWBIT_ERROR_INTERNAL, fn, "unknown exception");
  }
}

[[noreturn]] void invalid(const char* fn, const std::string& what);

// A required pointer argument: InvalidArgument "fn: name is NULL" when it is.
template <class T>
T& need(T* p, const char* fn, const char* name) {
  if (!p) invalid(fn, std::string(name) + " is NULL");
  return *p;
}

// A handle made by another context than ctx is refused (its memory lives on another device).
void same_context(const Context& ctx, const Context& owner, const char* fn, const char* name);
// A required buffer handle of ctx's device; an optional one (NULL allowed) gives an invalid Buffer.
const Buffer& need_buffer(const Context& ctx, const lowbit_buffer* b, const char* fn, const char* name);
Buffer optional_buffer(const Context& ctx, const lowbit_buffer* b, const char* fn, const char* name);

Shape to_shape(const int64_t* shape, size_t rank, const char* fn);
DType to_dtype(lowbit_dtype d, const char* fn);
Format to_format(lowbit_format f, const char* fn);
GemmPath to_gemm_path(lowbit_gemm_path p, const char* fn);
KvFormat to_kv_format(lowbit_kv_format f, const char* fn);
// The C++ options of a C options struct (NULL = the defaults); the backend is checked.
ContextOptions context_options(const lowbit_context_options* o, const char* fn);
GemmOptions gemm_options(const lowbit_gemm_options* o, const char* fn);
// n int32 values of a C array (NULL only when n is 0).
std::span<const int> int_array(const int32_t* a, size_t n, const char* fn, const char* name);

// Copies count elements of a caller array into v (NULL only when count is 0).
template <class T>
void take(std::vector<T>& v, const T* a, size_t count, const char* fn, const char* name) {
  if (count && !a) invalid(fn, std::string(name) + " is NULL");
  v.assign(a, a + count);
}

// Copies v into a caller array whose length must be v.size().
template <class T>
void give(const std::vector<T>& v, T* a, size_t len, const char* fn, const char* name) {
  if (len != v.size())
    invalid(fn, std::string(name) + " holds " + std::to_string(len) + " elements, the layer needs " +
                    std::to_string(v.size()));
  if (len && !a) invalid(fn, std::string(name) + " is NULL");
  std::copy(v.begin(), v.end(), a);
}

// A new C handle for a result: heap-allocated, owned by the caller from here on.
template <class Handle, class Value>
Handle* new_handle(const Context& owner, Value v) {
  return new Handle{owner, std::move(v)};
}

}  // namespace lowbit::c_api
