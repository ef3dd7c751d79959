// c_context.cpp — C API: version, validation messages, contexts (create, destroy, device info) and the
// stream (submit, wait, timing).
#include <memory>

#include "host/c_api/c_boundary.hpp"

using namespace lowbit;
using namespace lowbit::c_api;

extern "C" {

const char* lowbit_version(void) { return LOWBIT_VERSION_STRING; }

lowbit_status lowbit_validation_message_count(uint64_t* out) {
  return guarded(__func__, [&](const char* fn) { need(out, fn, "out") = validation_message_count(); });
}

lowbit_status lowbit_context_options_init(lowbit_context_options* o) {
  return guarded(__func__, [&](const char* fn) { need(o, fn, "options") = lowbit_context_options{}; });
}

lowbit_status lowbit_context_create(const lowbit_context_options* opts, lowbit_context** out) {
  return guarded(__func__, [&](const char* fn) {
    need(out, fn, "out");
    auto c = std::make_unique<lowbit_context>(lowbit_context{Context::create(context_options(opts, fn))});
    *out = c.release();
  });
}

lowbit_status lowbit_context_destroy(lowbit_context* ctx) {
  return guarded(__func__, [&](const char*) { delete ctx; });
}

lowbit_status lowbit_context_deterministic(const lowbit_context* ctx, bool* out) {
  return guarded(__func__, [&](const char* fn) {
    bool d = need(ctx, fn, "ctx").ctx.deterministic();
    need(out, fn, "out") = d;
  });
}

lowbit_status lowbit_context_device_info(const lowbit_context* ctx, lowbit_device_info* out) {
  return guarded(__func__, [&](const char* fn) {
    const DeviceInfo& d = need(ctx, fn, "ctx").ctx.device_info();
    lowbit_device_info i{};
    i.backend = static_cast<lowbit_backend>(d.backend);
    i.index = d.index;
    i.name = d.name.c_str();
    i.type = d.type.c_str();
    i.vendor = d.vendor.c_str();
    i.driver_version = d.driver_version.c_str();
    i.api_version = d.api_version.c_str();
    i.subgroup_size = d.subgroup_size;
    i.max_workgroup_size = d.max_workgroup_size;
    i.shared_memory_bytes = d.shared_memory_bytes;
    i.max_buffer_range = d.max_buffer_range;
    i.fp16 = d.fp16;
    i.int8 = d.int8;
    i.integer_dot_product = d.integer_dot_product;
    i.cooperative_matrix = d.cooperative_matrix;
    i.vendor_id = d.vendor_id;
    i.device_id = d.device_id;
    need(out, fn, "out") = i;
  });
}

lowbit_status lowbit_submit(lowbit_context* ctx) {
  return guarded(__func__, [&](const char* fn) { need(ctx, fn, "ctx").ctx.submit(); });
}

lowbit_status lowbit_wait(lowbit_context* ctx) {
  return guarded(__func__, [&](const char* fn) { need(ctx, fn, "ctx").ctx.wait(); });
}

lowbit_status lowbit_reset_timing(lowbit_context* ctx) {
  return guarded(__func__, [&](const char* fn) { need(ctx, fn, "ctx").ctx.reset_timing(); });
}

lowbit_status lowbit_timing(lowbit_context* ctx, double* device_ms) {
  return guarded(__func__, [&](const char* fn) {
    need(device_ms, fn, "device_ms");
    *device_ms = need(ctx, fn, "ctx").ctx.timing().device_ms;
  });
}

}  // extern "C"
