// test_embed_opencl.cpp — lowbit on an application's own OpenCL context and queue (Context::import_opencl):
// null or mismatched handles and bad wrapped cl_mem objects are clear errors; lowbit's commands wait for the
// application's events and hand out an event for their end, on in-order and out-of-order queues; wrapped
// cl_mem objects (at an offset too) are used in place, and every application object outlives the Context.
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "lowbit/interop.hpp"
#include "support/backends.hpp"

using namespace lowbit;

namespace {

ErrorCode code_of(const std::function<void()>& f, std::string* what = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (what) *what = e.what();
    return e.code();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorCode::Internal;
}

// The application's objects: one context and queue on the first device.
struct App {
  cl_device_id device = nullptr;
  cl_context context = nullptr;
  cl_command_queue queue = nullptr;
  explicit App(bool out_of_order = false) {
    cl_platform_id p = nullptr;
    clGetPlatformIDs(1, &p, nullptr);
    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &device, nullptr);
    cl_int err = CL_SUCCESS;
    context = clCreateContext(nullptr, 1, &device, nullptr, nullptr, &err);
    cl_queue_properties props[] = {CL_QUEUE_PROPERTIES,
                                   cl_queue_properties(out_of_order ? CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE : 0), 0};
    queue = clCreateCommandQueueWithProperties(context, device, props, &err);
  }
  ~App() {
    clReleaseCommandQueue(queue);
    clReleaseContext(context);
  }
  OpenClImport import() const { return {context, device, queue}; }
  cl_mem buffer(size_t bytes) {
    cl_int err = CL_SUCCESS;
    return clCreateBuffer(context, CL_MEM_READ_WRITE, bytes, nullptr, &err);
  }
};

cl_uint reference_count(cl_context c) {
  cl_uint n = 0;
  clGetContextInfo(c, CL_CONTEXT_REFERENCE_COUNT, sizeof n, &n, nullptr);
  return n;
}

#define OPENCL_OR_SKIP() LOWBIT_BACKEND_OR_SKIP(Backend::OpenCL)

TEST(EmbedOpenCl, NullAndMismatchedHandlesAreNamed) {
  OPENCL_OR_SKIP();
  App app, other;
  std::string what;
  EXPECT_EQ(code_of([&] { Context::import_opencl({nullptr, app.device, app.queue}); }, &what), ErrorCode::InvalidArgument);
  EXPECT_NE(what.find("context is null"), std::string::npos) << what;
  EXPECT_EQ(code_of([&] { Context::import_opencl({app.context, nullptr, app.queue}); }, &what), ErrorCode::InvalidArgument);
  EXPECT_NE(what.find("device is null"), std::string::npos) << what;
  EXPECT_EQ(code_of([&] { Context::import_opencl({app.context, app.device, nullptr}); }, &what), ErrorCode::InvalidArgument);
  EXPECT_NE(what.find("queue is null"), std::string::npos) << what;
  EXPECT_EQ(code_of([&] { Context::import_opencl({app.context, app.device, other.queue}); }, &what),
            ErrorCode::InvalidArgument);
  EXPECT_NE(what.find("another context"), std::string::npos) << what;
}

TEST(EmbedOpenCl, TheApplicationsObjectsOutliveTheContext) {
  OPENCL_OR_SKIP();
  App app;
  const cl_uint before = reference_count(app.context);
  {
    Context ctx = Context::import_opencl(app.import());
    float x[4] = {1, 2, 3, 4};
    EXPECT_EQ(ctx.download<float>(ctx.upload(DType::F32, {4}, x, 16)), std::vector<float>(x, x + 4));
  }
  EXPECT_EQ(reference_count(app.context), before);
  cl_int err = CL_SUCCESS;
  cl_mem m = clCreateBuffer(app.context, CL_MEM_READ_WRITE, 64, nullptr, &err);  // still the application's, working
  EXPECT_EQ(err, CL_SUCCESS);
  clReleaseMemObject(m);
}

TEST(EmbedOpenCl, WrappedBufferBadInputs) {
  OPENCL_OR_SKIP();
  App app, other;
  Context ctx = Context::import_opencl(app.import());
  cl_mem small = app.buffer(64), foreign = other.buffer(1024), big = app.buffer(4096);
  std::string what;
  EXPECT_EQ(code_of([&] { ctx.wrap_opencl_buffer(nullptr, 0, DType::F32, {4}); }, &what), ErrorCode::InvalidArgument);
  EXPECT_NE(what.find("cl_mem is null"), std::string::npos) << what;
  EXPECT_EQ(code_of([&] { ctx.wrap_opencl_buffer(small, 0, DType::F32, {32}); }, &what), ErrorCode::InvalidArgument);
  EXPECT_NE(what.find("holds 64 bytes"), std::string::npos) << what;
  EXPECT_EQ(code_of([&] { ctx.wrap_opencl_buffer(foreign, 0, DType::F32, {4}); }, &what), ErrorCode::InvalidArgument);
  EXPECT_NE(what.find("another OpenCL context"), std::string::npos) << what;
  EXPECT_EQ(code_of([&] { ctx.wrap_opencl_buffer(big, 3, DType::F32, {4}); }, &what), ErrorCode::InvalidArgument);
  EXPECT_NE(what.find("CL_DEVICE_MEM_BASE_ADDR_ALIGN"), std::string::npos) << what;
  Context cpu = Context::create({.backend = Backend::CPU});
  EXPECT_EQ(code_of([&] { cpu.wrap_opencl_buffer(big, 0, DType::F32, {4}); }), ErrorCode::Unsupported);
  EXPECT_EQ(code_of([&] { ctx.opencl_wait_for(std::vector<cl_event>{nullptr}); }, &what), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { ctx.record_into(reinterpret_cast<VkCommandBuffer>(big)); }), ErrorCode::Unsupported);
  for (cl_mem m : {small, foreign, big}) clReleaseMemObject(m);
}

// lowbit's copy waits for the application's user event; its last event completes only after that.
void events_in_and_out(bool out_of_order) {
  App app(out_of_order);
  Context ctx = Context::import_opencl(app.import());
  cl_event none_yet = ctx.opencl_last_event();  // nothing enqueued by lowbit: complete at once
  EXPECT_EQ(clWaitForEvents(1, &none_yet), CL_SUCCESS);
  clReleaseEvent(none_yet);
  std::vector<float> x(256);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);
  Buffer src = ctx.upload(DType::F32, {256}, x.data(), x.size() * 4);
  // The destination is the application's buffer, wrapped at an offset (a sub-buffer).
  cl_uint align_bits = 0;
  clGetDeviceInfo(app.device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, nullptr);
  const size_t offset = std::max<size_t>(align_bits / 8, 4);
  cl_mem mem = app.buffer(offset + 1024);
  Buffer dst = ctx.wrap_opencl_buffer(mem, offset, DType::F32, {256});
  ctx.wait();

  cl_int err = CL_SUCCESS;
  cl_event gate = clCreateUserEvent(app.context, &err);
  ASSERT_EQ(err, CL_SUCCESS);
  ctx.opencl_wait_for(std::span<cl_event const>(&gate, 1));
  ctx.copy(src, dst);
  ctx.submit();
  cl_event done = ctx.opencl_last_event();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  cl_int status = CL_QUEUED;
  clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, nullptr);
  EXPECT_NE(status, CL_COMPLETE) << "lowbit's copy ran before the application's event";
  clSetUserEventStatus(gate, CL_COMPLETE);
  EXPECT_EQ(clWaitForEvents(1, &done), CL_SUCCESS);
  std::vector<float> got(256);
  EXPECT_EQ(clEnqueueReadBuffer(app.queue, mem, CL_TRUE, offset, 1024, got.data(), 0, nullptr, nullptr), CL_SUCCESS);
  EXPECT_EQ(got, x);  // in the application's memory, at its offset
  clReleaseEvent(done);
  clReleaseEvent(gate);
  dst = Buffer();
  clReleaseMemObject(mem);
}

TEST(EmbedOpenCl, EventsInAndOutOnAnInOrderQueue) {
  OPENCL_OR_SKIP();
  events_in_and_out(false);
}

TEST(EmbedOpenCl, EventsInAndOutOnAnOutOfOrderQueue) {
  OPENCL_OR_SKIP();
  events_in_and_out(true);
}

}  // namespace
