// c_interop.cpp — C API: embedding lowbit in an engine: contexts on the application's Vulkan device or
// OpenCL context, recording into its VkCommandBuffer, wrapping its VkBuffer / cl_mem, the API objects
// behind lowbit's buffers, and OpenCL events. Handles cross as void* / uint64_t (no Vulkan or OpenCL
// header in lowbit.h); they are the same pointers the C++ API takes.
#include <memory>

#include "host/c_api/c_boundary.hpp"

using namespace lowbit;
using namespace lowbit::c_api;

extern "C" {

lowbit_status lowbit_vulkan_import_init(lowbit_vulkan_import* v) {
  return guarded(__func__, [&](const char* fn) { need(v, fn, "import") = lowbit_vulkan_import{}; });
}

lowbit_status lowbit_context_import_vulkan(const lowbit_vulkan_import* app, const lowbit_context_options* opts,
                                           lowbit_context** out) {
  return guarded(__func__, [&](const char* fn) {
    const lowbit_vulkan_import& a = need(app, fn, "app");
    need(out, fn, "out");
    if (!a.instance) invalid(fn, "app->instance is NULL");
    if (!a.physical_device) invalid(fn, "app->physical_device is NULL");
    if (!a.device) invalid(fn, "app->device is NULL");
    if (!a.queue) invalid(fn, "app->queue is NULL");
    if (!a.enabled_features) invalid(fn, "app->enabled_features is NULL (the pNext chain given to vkCreateDevice)");
    if (a.enabled_extension_count && !a.enabled_extensions)
      invalid(fn, "app->enabled_extensions is NULL with count " + std::to_string(a.enabled_extension_count));
    VulkanImport v;
    v.instance = static_cast<VkInstance>(a.instance);
    v.physical_device = static_cast<VkPhysicalDevice>(a.physical_device);
    v.device = static_cast<VkDevice>(a.device);
    v.queue_family = a.queue_family;
    v.queue = static_cast<VkQueue>(a.queue);
    v.queue_lock = a.queue_lock;
    v.queue_unlock = a.queue_unlock;
    v.queue_lock_user = a.queue_lock_user;
    v.pipeline_cache = a.pipeline_cache;
    v.enabled_features = a.enabled_features;
    for (size_t i = 0; i < a.enabled_extension_count; ++i) {
      if (!a.enabled_extensions[i]) invalid(fn, "app->enabled_extensions[" + std::to_string(i) + "] is NULL");
      v.enabled_extensions.emplace_back(a.enabled_extensions[i]);
    }
    auto c = std::make_unique<lowbit_context>(lowbit_context{Context::import_vulkan(v, context_options(opts, fn))});
    *out = c.release();
  });
}

lowbit_status lowbit_context_import_opencl(const lowbit_opencl_import* app, const lowbit_context_options* opts,
                                           lowbit_context** out) {
  return guarded(__func__, [&](const char* fn) {
    const lowbit_opencl_import& a = need(app, fn, "app");
    need(out, fn, "out");
    if (!a.context) invalid(fn, "app->context is NULL");
    if (!a.device) invalid(fn, "app->device is NULL");
    if (!a.queue) invalid(fn, "app->queue is NULL");
    OpenClImport o;
    o.context = static_cast<cl_context>(a.context);
    o.device = static_cast<cl_device_id>(a.device);
    o.queue = static_cast<cl_command_queue>(a.queue);
    auto c = std::make_unique<lowbit_context>(lowbit_context{Context::import_opencl(o, context_options(opts, fn))});
    *out = c.release();
  });
}

lowbit_status lowbit_record_into(lowbit_context* ctx, void* command_buffer, lowbit_recording** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    need(out, fn, "out");
    if (!command_buffer) invalid(fn, "command_buffer is NULL");
    // The handle is allocated before recording starts, so a failed allocation leaves nothing open.
    auto r = std::make_unique<lowbit_recording>(lowbit_recording{c, Recording{}});
    r->rec = c.record_into(static_cast<VkCommandBuffer>(command_buffer));
    *out = r.release();
  });
}

lowbit_status lowbit_recording_end(lowbit_recording* r) {
  return guarded(__func__, [&](const char* fn) {
    lowbit_recording& rec = need(r, fn, "recording");
    if (!rec.rec.open()) invalid(fn, "the recording has already ended");
    rec.rec.end();
  });
}

lowbit_status lowbit_recording_destroy(lowbit_recording* r) {
  return guarded(__func__, [&](const char*) { delete r; });
}

lowbit_status lowbit_buffer_wrap_vulkan(lowbit_context* ctx, uint64_t vk_buffer, uint64_t offset, uint64_t range,
                                        uint32_t usage, lowbit_dtype dtype, const int64_t* shape, size_t rank,
                                        lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    need(out, fn, "out");
    const uint32_t known = LOWBIT_VK_USAGE_TRANSFER_SRC | LOWBIT_VK_USAGE_TRANSFER_DST | LOWBIT_VK_USAGE_STORAGE;
    if (usage & ~known) invalid(fn, "unknown usage bits " + std::to_string(usage & ~known));
    Buffer b = c.wrap_vulkan_buffer(vk_buffer, offset, range, usage, to_dtype(dtype, fn), to_shape(shape, rank, fn));
    *out = new_handle<lowbit_buffer>(c, std::move(b));
  });
}

lowbit_status lowbit_buffer_wrap_opencl(lowbit_context* ctx, void* mem, uint64_t offset, lowbit_dtype dtype,
                                        const int64_t* shape, size_t rank, lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    need(out, fn, "out");
    if (!mem) invalid(fn, "mem is NULL");
    Buffer b = c.wrap_opencl_buffer(static_cast<cl_mem>(mem), offset, to_dtype(dtype, fn), to_shape(shape, rank, fn));
    *out = new_handle<lowbit_buffer>(c, std::move(b));
  });
}

lowbit_status lowbit_buffer_vulkan(const lowbit_context* ctx, const lowbit_buffer* b, lowbit_vulkan_buffer_ref* out) {
  return guarded(__func__, [&](const char* fn) {
    const Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& buf = need_buffer(c, b, fn, "buffer");
    need(out, fn, "out");
    if (c.backend() != Backend::Vulkan)
      throw Error(ErrorCode::Unsupported, std::string(fn) + ": the context runs on " + to_string(c.backend()) +
                                              ", not Vulkan");
    VulkanBufferRef r = c.vulkan_buffer(buf);
    *out = lowbit_vulkan_buffer_ref{r.buffer, r.offset, r.range};
  });
}

lowbit_status lowbit_buffer_opencl(const lowbit_context* ctx, const lowbit_buffer* b, void** out) {
  return guarded(__func__, [&](const char* fn) {
    const Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& buf = need_buffer(c, b, fn, "buffer");
    need(out, fn, "out");
    if (c.backend() != Backend::OpenCL)
      throw Error(ErrorCode::Unsupported, std::string(fn) + ": the context runs on " + to_string(c.backend()) +
                                              ", not OpenCL");
    *out = c.opencl_buffer(buf);
  });
}

lowbit_status lowbit_opencl_wait_for(lowbit_context* ctx, void* const* events, size_t n) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    if (n && !events) invalid(fn, "events is NULL with n = " + std::to_string(n));
    std::vector<cl_event> list;
    for (size_t i = 0; i < n; ++i) {
      if (!events[i]) invalid(fn, "events[" + std::to_string(i) + "] is NULL");
      list.push_back(static_cast<cl_event>(events[i]));
    }
    c.opencl_wait_for(list);
  });
}

lowbit_status lowbit_opencl_last_event(lowbit_context* ctx, void** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    need(out, fn, "out");
    *out = c.opencl_last_event();
  });
}

}  // extern "C"
