// clblast_peer.cpp — the CLBlast baseline row (--baseline clblast): CLBlast's GEMM run on the OpenCL
// backend's own queue and cl_mem buffers (backend/opencl/cl_native.hpp), timed by the profiling event
// CLBlast returns, which goes into the device's timing like one of our kernels. HGEMM where the
// device has fp16, else SGEMM on fp32 (dequantized) weights; the row's config says which.
// Compiled with LOWBIT_BENCH_HAVE_CLBLAST=1 only when CMake found CLBlast; otherwise a stub.
#include "bench/runners.hpp"

#if LOWBIT_BENCH_HAVE_CLBLAST
#include <clblast.h>

#include "backend/device.hpp"
#include "backend/opencl/cl_native.hpp"
#include "host/internal_access.hpp"
#endif

namespace lowbit::bench {

#if LOWBIT_BENCH_HAVE_CLBLAST

bool clblast_built() { return true; }

namespace {

// Y[M,N] = X[M,K] · W[N,K]ᵀ, row-major: a = X (lda K), b = W transposed (ldb K), c = Y (ldc N).
template <class T>
void gemm(Context& ctx, const GemmShape& sh, const Buffer& x, const Buffer& w, Buffer& y, T one, T zero) {
  cl_command_queue q = detail::cl::native_queue(detail::device_of(ctx));
  cl_event ev = nullptr;
  auto st = clblast::Gemm<T>(clblast::Layout::kRowMajor, clblast::Transpose::kNo, clblast::Transpose::kYes, size_t(sh.m),
                             size_t(sh.n), size_t(sh.k), one, detail::cl::native_mem(*x.mem()), 0, size_t(sh.k),
                             detail::cl::native_mem(*w.mem()), 0, size_t(sh.k), zero, detail::cl::native_mem(*y.mem()), 0,
                             size_t(sh.n), &q, &ev);
  if (st != clblast::StatusCode::kSuccess) {
    if (ev) clReleaseEvent(ev);
    ErrorCode code = st == clblast::StatusCode::kNoHalfPrecision ? ErrorCode::Unsupported : ErrorCode::Backend;
    throw Error(code, "CLBlast GEMM failed with status " + std::to_string(int(st)));
  }
  if (ev) detail::cl::record_native_event(detail::device_of(ctx), ev);
}

}  // namespace

const Result& run_clblast(Session& s, const GemmShape& sh, const std::vector<float>& wf, const std::vector<float>& xf,
                          double f16_ms) {
  Context& ctx = s.ctx;
  Result r;
  r.op = "clblast";
  r.shape = {{"m", sh.m}, {"n", sh.n}, {"k", sh.k}};
  r.config_source = "fixed";
  if (f16_ms > 0) r.f16_ms = f16_ms;
  if (ctx.device_info().fp16) {
    r.config = "hgemm-fp16";
    r.work = gemm_f16_work(sh.m, sh.n, sh.k);
    auto wh = to_f16(wf), xh = to_f16(xf);
    Buffer w = ctx.upload(DType::F16, {sh.n, sh.k}, wh.data(), wh.size() * 2);
    Buffer x = ctx.upload(DType::F16, {sh.m, sh.k}, xh.data(), xh.size() * 2);
    Buffer y = ctx.alloc(DType::F16, {sh.m, sh.n});
    const Result& row = measure(s, r, [&] { gemm<cl_half>(ctx, sh, x, w, y, cl_half(0x3C00), cl_half(0)); });
    if (row.error.empty()) return row;
    s.results.pop_back();  // HGEMM refused (kNoHalfPrecision): fall back to SGEMM below
  }
  r.config = "sgemm-fp32";  // fp32 (dequantized) weights: the device has no fp16
  r.work = gemm_f32_work(sh.m, sh.n, sh.k);
  Buffer w = ctx.upload(DType::F32, {sh.n, sh.k}, wf.data(), wf.size() * 4);
  Buffer x = ctx.upload(DType::F32, {sh.m, sh.k}, xf.data(), xf.size() * 4);
  Buffer y = ctx.alloc(DType::F32, {sh.m, sh.n});
  return measure(s, r, [&] { gemm<float>(ctx, sh, x, w, y, 1.0f, 0.0f); });
}

#else

bool clblast_built() { return false; }

const Result& run_clblast(Session&, const GemmShape&, const std::vector<float>&, const std::vector<float>&, double) {
  throw Error(ErrorCode::Unsupported, "--baseline clblast: this lowbit was built without CLBlast");
}

#endif

}  // namespace lowbit::bench
