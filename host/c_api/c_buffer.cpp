// c_buffer.cpp — C API: buffers (alloc, upload, download, view, copy, destroy) and what they hold.
#include <algorithm>

#include "host/c_api/c_boundary.hpp"

using namespace lowbit;
using namespace lowbit::c_api;

extern "C" {

lowbit_status lowbit_buffer_alloc(lowbit_context* ctx, lowbit_dtype dtype, const int64_t* shape, size_t rank,
                                  lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    need(out, fn, "out");
    *out = new_handle<lowbit_buffer>(c, c.alloc(to_dtype(dtype, fn), to_shape(shape, rank, fn)));
  });
}

lowbit_status lowbit_buffer_upload(lowbit_context* ctx, lowbit_dtype dtype, const int64_t* shape, size_t rank,
                                   const void* data, size_t bytes, lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    need(out, fn, "out");
    if (bytes && !data) invalid(fn, "data is NULL with " + std::to_string(bytes) + " bytes");
    Buffer b = c.upload(to_dtype(dtype, fn), to_shape(shape, rank, fn), data, bytes);
    *out = new_handle<lowbit_buffer>(c, std::move(b));
  });
}

lowbit_status lowbit_buffer_download(lowbit_context* ctx, const lowbit_buffer* b, void* dst, size_t bytes) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& buf = need_buffer(c, b, fn, "buffer");
    if (bytes != buf.bytes())
      invalid(fn, std::to_string(bytes) + " bytes asked for, the buffer holds " + std::to_string(buf.bytes()));
    if (bytes && !dst) invalid(fn, "dst is NULL");
    c.download(buf, dst, bytes);
  });
}

lowbit_status lowbit_buffer_view(const lowbit_buffer* b, lowbit_dtype dtype, const int64_t* shape, size_t rank,
                                 lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    const lowbit_buffer& src = need(b, fn, "buffer");
    need(out, fn, "out");
    *out = new_handle<lowbit_buffer>(src.owner, src.buf.view(to_dtype(dtype, fn), to_shape(shape, rank, fn)));
  });
}

lowbit_status lowbit_buffer_copy(lowbit_context* ctx, const lowbit_buffer* src, lowbit_buffer* dst) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& s = need_buffer(c, src, fn, "src");
    need_buffer(c, dst, fn, "dst");
    c.copy(s, dst->buf);
  });
}

lowbit_status lowbit_buffer_destroy(lowbit_buffer* b) {
  return guarded(__func__, [&](const char*) { delete b; });
}

lowbit_status lowbit_buffer_dtype(const lowbit_buffer* b, lowbit_dtype* out) {
  return guarded(__func__, [&](const char* fn) {
    need(out, fn, "out") = static_cast<lowbit_dtype>(need(b, fn, "buffer").buf.dtype());
  });
}

lowbit_status lowbit_buffer_bytes(const lowbit_buffer* b, size_t* out) {
  return guarded(__func__, [&](const char* fn) { need(out, fn, "out") = need(b, fn, "buffer").buf.bytes(); });
}

lowbit_status lowbit_buffer_shape(const lowbit_buffer* b, int64_t* dims, size_t capacity, size_t* rank) {
  return guarded(__func__, [&](const char* fn) {
    const Shape& s = need(b, fn, "buffer").buf.shape();
    need(rank, fn, "rank");
    if (capacity && !dims) invalid(fn, "dims is NULL with capacity " + std::to_string(capacity));
    std::copy_n(s.begin(), std::min(capacity, s.size()), dims);
    *rank = s.size();
  });
}

}  // extern "C"
