// opencl_engine.cpp — the block's decode steps on the engine's own OpenCL context and queue: its kernels
// (RMSNorm, residual adds, SiLU·up) and lowbit's ops ordered by events alone (the queue may be out of order):
// lowbit waits for the engine's event (Context::opencl_wait_for), the engine for lowbit's
// (Context::opencl_last_event).
#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

#include <string>
#include <vector>

#include "engines.hpp"
#include "lowbit/interop.hpp"

namespace example {

using namespace lowbit;

namespace {

const char* kKernels = R"CL(
__kernel void rmsnorm(__global const float* x, __global const float* gamma, __global half* out, uint n, float eps) {
  __local float partial[64];
  uint t = get_local_id(0);
  float s = 0.0f;
  for (uint i = t; i < n; i += 64) s += x[i] * x[i];
  partial[t] = s;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (uint w = 32; w > 0; w >>= 1) {
    if (t < w) partial[t] += partial[t + w];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  float inv = 1.0f / sqrt(partial[0] / (float)n + eps);
  for (uint i = t; i < n; i += 64) vstore_half_rte(x[i] * inv * gamma[i], i, out);
}
__kernel void residual_add(__global const float* x, __global const half* delta, __global float* out, uint n) {
  uint i = get_global_id(0);
  if (i < n) out[i] = x[i] + vload_half(i, delta);
}
__kernel void silu_mul(__global const half* gate, __global const half* up, __global half* out, uint n) {
  uint i = get_global_id(0);
  if (i >= n) return;
  float g = vload_half(i, gate);
  vstore_half_rte(g / (1.0f + exp(-g)) * vload_half(i, up), i, out);
}
)CL";

void cl_ok(cl_int err, const char* call) {
  if (err != CL_SUCCESS) throw std::runtime_error(std::string(call) + " failed: " + std::to_string(err));
}

// The engine's OpenCL objects (released at the end, after lowbit's context).
struct AppOpenCl {
  cl_context context = nullptr;
  cl_device_id device = nullptr;
  cl_command_queue queue = nullptr;
  cl_program program = nullptr;
  std::vector<cl_mem> buffers;
  ~AppOpenCl() {
    for (cl_mem m : buffers) clReleaseMemObject(m);
    if (program) clReleaseProgram(program);
    if (queue) clReleaseCommandQueue(queue);
    if (context) clReleaseContext(context);
  }
  cl_mem buffer(size_t bytes, const void* init) {
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(context, CL_MEM_READ_WRITE | (init ? CL_MEM_COPY_HOST_PTR : 0), bytes,
                              const_cast<void*>(init), &err);
    cl_ok(err, "clCreateBuffer");
    buffers.push_back(m);
    return m;
  }
};

AppOpenCl open_app(bool out_of_order) {
  AppOpenCl a;
  cl_platform_id platform = nullptr;
  cl_uint n = 0;
  if (clGetPlatformIDs(1, &platform, &n) != CL_SUCCESS || n == 0) throw NoDevice("no OpenCL platform");
  if (clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &a.device, &n) != CL_SUCCESS || n == 0)
    throw NoDevice("no OpenCL device");
  cl_int err = CL_SUCCESS;
  a.context = clCreateContext(nullptr, 1, &a.device, nullptr, nullptr, &err);
  cl_ok(err, "clCreateContext");
  cl_queue_properties props[] = {CL_QUEUE_PROPERTIES,
                                 cl_queue_properties(out_of_order ? CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE : 0), 0};
  a.queue = clCreateCommandQueueWithProperties(a.context, a.device, props, &err);
  cl_ok(err, "clCreateCommandQueueWithProperties");
  a.program = clCreateProgramWithSource(a.context, 1, &kKernels, nullptr, &err);
  cl_ok(err, "clCreateProgramWithSource");
  cl_ok(clBuildProgram(a.program, 1, &a.device, "-cl-std=CL1.2", nullptr, nullptr), "clBuildProgram");
  return a;
}

// Enqueues kernel `name` over `items` (work-groups of 64) after `wait`; returns its event.
template <class... Args>
cl_event enqueue(AppOpenCl& a, const char* name, size_t items, cl_event wait, const Args&... args) {
  cl_int err = CL_SUCCESS;
  cl_kernel k = clCreateKernel(a.program, name, &err);
  cl_ok(err, "clCreateKernel");
  cl_uint i = 0;
  (cl_ok(clSetKernelArg(k, i++, sizeof(Args), &args), "clSetKernelArg"), ...);
  size_t global = (items + 63) / 64 * 64, local = 64;
  cl_event e = nullptr;
  err = clEnqueueNDRangeKernel(a.queue, k, 1, nullptr, &global, &local, wait ? 1 : 0, wait ? &wait : nullptr, &e);
  clReleaseKernel(k);
  cl_ok(err, "clEnqueueNDRangeKernel");
  return e;
}

// lowbit's next command waits for `e` (the engine's), which the engine then drops.
void lowbit_after(Context& ctx, cl_event e) {
  ctx.opencl_wait_for(std::span<cl_event const>(&e, 1));
  clReleaseEvent(e);
}

}  // namespace

std::vector<float> opencl_decode(const BlockWeights& w, int steps, bool out_of_order) {
  const BlockSizes& s = w.s;
  AppOpenCl app = open_app(out_of_order);
  std::vector<float> zeros(size_t(s.embed), 0.0f);
  cl_mem x[2] = {app.buffer(size_t(s.embed) * 4, w.x0.data()), app.buffer(size_t(s.embed) * 4, zeros.data())};
  cl_mem g1 = app.buffer(size_t(s.embed) * 4, w.gamma1.data()), g2 = app.buffer(size_t(s.embed) * 4, w.gamma2.data());
  cl_mem h = app.buffer(size_t(s.embed) * 4, nullptr);
  cl_mem xn = app.buffer(size_t(s.embed) * 2, nullptr), hn = app.buffer(size_t(s.embed) * 2, nullptr);
  cl_mem act = app.buffer(size_t(s.ffn) * 2, nullptr);

  std::vector<float> out(size_t(s.embed));
  {
    Context ctx = Context::import_opencl({app.context, app.device, app.queue});
    BlockOnDevice b = upload_block(ctx, w);
    Buffer xn_b = ctx.wrap_opencl_buffer(xn, 0, DType::F16, {1, s.embed});
    Buffer hn_b = ctx.wrap_opencl_buffer(hn, 0, DType::F16, {1, s.embed});
    Buffer act_b = ctx.wrap_opencl_buffer(act, 0, DType::F16, {1, s.ffn});
    const cl_uint n_embed = cl_uint(s.embed), n_ffn = cl_uint(s.ffn);
    cl_event ready = ctx.opencl_last_event();  // the uploads above
    int cur = 0;
    for (int step = 0; step < steps; ++step, cur ^= 1) {
      cl_event e = enqueue(app, "rmsnorm", 64, ready, x[cur], g1, xn, n_embed, s.eps);
      clReleaseEvent(ready);
      lowbit_after(ctx, e);
      Buffer o = attention_part(ctx, b, s, xn_b);
      cl_event lb = ctx.opencl_last_event();
      cl_mem o_mem = ctx.opencl_buffer(o);
      e = enqueue(app, "residual_add", size_t(s.embed), lb, x[cur], o_mem, h, n_embed);
      clReleaseEvent(lb);
      cl_event e2 = enqueue(app, "rmsnorm", 64, e, h, g2, hn, n_embed, s.eps);
      clReleaseEvent(e);
      lowbit_after(ctx, e2);
      GateUp gu = mlp_up_part(ctx, b, hn_b);
      lb = ctx.opencl_last_event();
      cl_mem gate = ctx.opencl_buffer(gu.gate), up = ctx.opencl_buffer(gu.up);
      e = enqueue(app, "silu_mul", size_t(s.ffn), lb, gate, up, act, n_ffn);
      clReleaseEvent(lb);
      lowbit_after(ctx, e);
      Buffer dn = mlp_down_part(ctx, b, act_b);
      lb = ctx.opencl_last_event();
      cl_mem d_mem = ctx.opencl_buffer(dn);
      ready = enqueue(app, "residual_add", size_t(s.embed), lb, h, d_mem, x[cur ^ 1], n_embed);
      clReleaseEvent(lb);
      // The engine's kernels read lowbit's results o, gate, up, dn: they stay alive until those have run.
      cl_ok(clWaitForEvents(1, &ready), "clWaitForEvents");
    }
    cl_ok(clEnqueueReadBuffer(app.queue, x[cur], CL_TRUE, 0, out.size() * 4, out.data(), 1, &ready, nullptr),
          "clEnqueueReadBuffer");
    clReleaseEvent(ready);
  }
  return out;
}

}  // namespace example
