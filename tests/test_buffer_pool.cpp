// test_buffer_pool.cpp — GEMM results and split-K partials come from the backend's pool of recycled
// buffers on the GPU backends: many GEMMs in a row reuse their buffers (DeviceStats::pool_hits, few
// buffers_created) and stay correct; a result released while its GEMM may still run is not handed out
// again before the device finished it (Vulkan: recorded, not yet submitted; OpenCL: the in-order queue held
// behind a user event), and is once it has.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backend/device.hpp"
#ifdef LOWBIT_HAVE_OPENCL
#include "backend/opencl/cl_native.hpp"
#include "host/internal_access.hpp"
#endif
#include "support/backends.hpp"

using namespace lowbit;

namespace {

class BufferPool : public ::testing::TestWithParam<Backend> {};

// A small int4 layer and activations of M rows.
struct Layer {
  W4Host host;
  W4Layer dev;
  Buffer x;
  std::vector<uint16_t> xh;
};

Layer make_layer(Context& ctx, int64_t m, int64_t n, int64_t k) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> w(size_t(n * k));
  for (auto& v : w) v = nd(rng);
  Layer l;
  l.host = quantize_w4_rtn(w.data(), n, k, 32, false);
  l.dev = ctx.upload_w4(l.host);
  l.xh.resize(size_t(m * k));
  for (auto& v : l.xh) v = uint16_t(0x3000 + rng() % 0x0C00) ^ uint16_t((rng() & 1) << 15);  // +-[0.125, 1)
  l.x = ctx.upload(DType::F16, {m, k}, l.xh.data(), l.xh.size() * 2);
  return l;
}

// The CPU reference of the layer (fp32 out).
std::vector<float> reference(const Layer& l, int64_t m) {
  Context cpu = Context::create({.backend = Backend::CPU});
  W4Layer w = cpu.upload_w4(l.host);
  Buffer x = cpu.upload(DType::F16, {m, l.host.k}, l.xh.data(), l.xh.size() * 2);
  return cpu.download<float>(cpu.gemm_w4a16(x, w, {.out = DType::F32}));
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  float peak = 0;
  for (float v : want) peak = std::max(peak, std::fabs(v));
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-3f * peak + 1e-5f) << what << " at " << i;
}

TEST_P(BufferPool, ManyGemmsInARowReuseTheirBuffersAndStayCorrect) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  for (int64_t m : {2, 40}) {  // GEMV with split-K partials, and the tiled path
    Layer l = make_layer(ctx, m, 96, 1024);
    std::vector<float> want = reference(l, m);
    GemmOptions o{.out = DType::F32, .split_k = m == 2 ? 4 : 0};
    ctx.download<float>(ctx.gemm_w4a16(l.x, l.dev, o));  // warm: the pool holds this size now
    detail::DeviceStats before = detail::device_of(ctx).stats();
    constexpr int kRuns = 30;
    uint64_t created = 0;  // by the GEMMs only: a download may stage through buffers of its own (on GPUs)
    for (int i = 0; i < kRuns; ++i) {
      uint64_t c0 = detail::device_of(ctx).stats().buffers_created;
      Buffer y = ctx.gemm_w4a16(l.x, l.dev, o);
      created += detail::device_of(ctx).stats().buffers_created - c0;
      expect_close(ctx.download<float>(y), want, "repeated gemm");
    }
    detail::DeviceStats after = detail::device_of(ctx).stats();
    // Each run needs an output (and on the GEMV a partials buffer); a release the device has not yet
    // confirmed done (OpenCL's marker event) may miss once in a while, a buffer per GEMM may not.
    EXPECT_GE(after.pool_hits - before.pool_hits, uint64_t(kRuns - 5)) << "M = " << m;
    EXPECT_LE(created, 5u) << "M = " << m << ": a buffer per GEMM";
  }
  test::expect_clean(ctx);
}

// Holds the device from running queued work until release() (or destruction): Vulkan records without
// submitting; OpenCL puts a barrier on a user event at the head of the in-order queue.
class DeviceHold {
 public:
  explicit DeviceHold(Context& ctx) {
#ifdef LOWBIT_HAVE_OPENCL
    if (ctx.backend() != Backend::OpenCL) return;
    cl_command_queue q = detail::cl::native_queue(detail::device_of(ctx));
    cl_context c = nullptr;
    clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof c, &c, nullptr);
    cl_int err = CL_SUCCESS;
    gate_ = clCreateUserEvent(c, &err);
    EXPECT_EQ(err, CL_SUCCESS);
    EXPECT_EQ(clEnqueueBarrierWithWaitList(q, 1, &gate_, nullptr), CL_SUCCESS);
#else
    (void)ctx;
#endif
  }
  ~DeviceHold() { release(); }
  void release() {
#ifdef LOWBIT_HAVE_OPENCL
    if (!gate_) return;
    clSetUserEventStatus(gate_, CL_COMPLETE);
    clReleaseEvent(gate_);
    gate_ = nullptr;
#endif
  }

 private:
#ifdef LOWBIT_HAVE_OPENCL
  cl_event gate_ = nullptr;
#endif
};

TEST_P(BufferPool, AResultReleasedWhileItsGemmMayRunIsReusedOnlyAfterTheDeviceFinishedIt) {
  // PoCL 3.1 runs kernels past a barrier on a user event (its event then reads complete while the gate
  // is still shut), so OpenCL cannot be held back from here; its tickets are the last enqueued command.
  if (GetParam() == Backend::OpenCL) GTEST_SKIP() << "an OpenCL queue cannot be held back by a user event on PoCL";
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  const int64_t m = 40;
  Layer l = make_layer(ctx, m, 96, 1024);
  std::vector<float> want = reference(l, m);
  GemmOptions o{.out = DType::F32};
  ctx.download<float>(ctx.gemm_w4a16(l.x, l.dev, o));  // the pool holds one idle buffer of this size
  {
    DeviceHold hold(ctx);
    Buffer first = ctx.gemm_w4a16(l.x, l.dev, o);  // takes the idle buffer; cannot finish while held
    uint64_t hits = detail::device_of(ctx).stats().pool_hits;
    first = Buffer{};  // released while its GEMM is queued
    Buffer second = ctx.gemm_w4a16(l.x, l.dev, o);
    EXPECT_EQ(detail::device_of(ctx).stats().pool_hits, hits) << "handed out a buffer its queued GEMM still writes";
    hold.release();
    expect_close(ctx.download<float>(second), want, "second");  // waits: the device is done with `first`
  }
  uint64_t hits = detail::device_of(ctx).stats().pool_hits;
  Buffer third = ctx.gemm_w4a16(l.x, l.dev, o);
  // the output, and the split-K partials where the device's plan splits K (GPUs)
  const uint64_t pooled = ctx.last_gemm_launch().split_k > 1 ? 2 : 1;
  EXPECT_EQ(detail::device_of(ctx).stats().pool_hits, hits + pooled) << "a finished buffer is reused";
  expect_close(ctx.download<float>(third), want, "third");
  test::expect_clean(ctx);
}

INSTANTIATE_TEST_SUITE_P(Gpu, BufferPool, ::testing::ValuesIn(test::gpu_backends()), test::backend_param_name);

}  // namespace
