// gemm_bound.hpp — how the GEMM tests judge a result: each element against the exact product of the
// fp16 activations and the exactly dequantized weights (summed in fp64), within the rounding bound of
// the summation order of the path that computed it:
//   |ŷ - y| <= γ_d · (Σ_k |x_k w_k| + |bias|)                    γ_d = d·u / (1 - d·u), u = 2^-24
//            + 2^-11 · (|y| + γ_d · (Σ|x w| + |bias|)) + 2^-25    (fp16 output: one more rounding)
// where d is the longest chain of fp32 roundings a term passes through (backend/gemm_plan.hpp derives
// d for the int4 GEMV from gemm_gemv.comp / gemm.cl; every other path sums K terms in some order,
// d <= K + splits + 3). The bound is per element and does not grow with K² (the old K·2^-23·Σ|x w|
// did): on the GEMV path a lost K row is far outside it.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend/gemm_plan.hpp"
#include "lowbit/lowbit.hpp"
#include "lowbit/w4.hpp"
#include "lowbit_formats.h"

namespace lowbit::test {

// y = x·wᵀ + bias in fp64 (exact up to 2^-53: products of fp16 x and fp32 w have <= 40 bits), and the
// magnitude Σ|x w| + |bias| the rounding bound scales with; [m, n] row-major.
struct ExactGemm {
  std::vector<double> y, mag;
};

// weight_row(n, out) writes row n of W (k fp32 values, the original K order).
inline ExactGemm exact_gemm(const std::vector<uint16_t>& x, int64_t m, int64_t k, int64_t n,
                            const std::function<void(int64_t, float*)>& weight_row,
                            const std::vector<uint16_t>& bias = {}) {
  auto h2d = [](uint16_t h) { return double(std::bit_cast<float>(fmt::lb_f16_to_f32(h))); };
  std::vector<double> xd(x.size());
  for (size_t i = 0; i < x.size(); ++i) xd[i] = h2d(x[i]);
  ExactGemm e{std::vector<double>(size_t(m * n)), std::vector<double>(size_t(m * n))};
  std::vector<float> w(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; ++j) {
    weight_row(j, w.data());
    double b = bias.empty() ? 0.0 : h2d(bias[size_t(j)]);
    for (int64_t i = 0; i < m; ++i) {
      const double* xr = &xd[size_t(i * k)];
      double s = b, a = std::fabs(b);
      for (int64_t c = 0; c < k; ++c) {
        double t = xr[c] * double(w[size_t(c)]);
        s += t;
        a += std::fabs(t);
      }
      e.y[size_t(i * n + j)] = s;
      e.mag[size_t(i * n + j)] = a;
    }
  }
  return e;
}

inline ExactGemm exact_gemm_w4(const std::vector<uint16_t>& x, int64_t m, const W4Host& h,
                               const std::vector<uint16_t>& bias = {}) {
  return exact_gemm(x, m, h.k, h.n, [&](int64_t j, float* row) { dequantize_w4_row(h, j, row); }, bias);
}

// The same with an fp32 bias (added exactly in fp64).
inline ExactGemm exact_gemm_w4(const std::vector<uint16_t>& x, int64_t m, const W4Host& h, const std::vector<float>& bias) {
  ExactGemm e = exact_gemm_w4(x, m, h);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < h.n; ++j) {
      e.y[size_t(i * h.n + j)] += double(bias[size_t(j)]);
      e.mag[size_t(i * h.n + j)] += std::fabs(double(bias[size_t(j)]));
    }
  return e;
}

// d for a result of `ctx` computed with options o (path Auto resolved as the context resolves it),
// called after that result was computed: the int4 GEMV's slices and K partitions are those of the last
// launch (Context::last_gemm_launch), its slice length at most K.
inline uint64_t gemm_rounding_depth(const Context& ctx, const GemmOptions& o, int64_t m, bool w4, int64_t k,
                                    int group) {
  using namespace lowbit::detail;
  const uint64_t K = uint64_t(k);
  const GemmLaunch launch = ctx.last_gemm_launch();
  GemmPath p = o.path == GemmPath::Auto ? ctx.choose_gemm_path(m) : o.path;
  const uint64_t splits = std::max<uint64_t>({1, launch.split_k, uint64_t(std::max(o.split_k, 0))});
  // the cooperative-matrix path rounds each dequantized weight to fp16 (2^-11 = 2^13 u) before the sum
  if (p == GemmPath::CoopMatrix) return gemm_rounding_depth_any_order(K, splits) + (uint64_t(1) << 13);
  if (ctx.backend() == Backend::CPU || !w4 || p != GemmPath::Gemv) return gemm_rounding_depth_any_order(K, splits);
  return w4_gemv_rounding_depth(uint64_t(group), K, splits, std::max<uint64_t>(1, launch.k_partitions),
                                launch.gemv_variant == 3);
}

// Elements of `got` outside the bound for depth d; reports the first few as failures when `report`.
inline size_t count_outside_bound(const std::vector<float>& got, const ExactGemm& e, uint64_t d, bool out16,
                                  const std::string& what, bool report = true) {
  const double u = std::ldexp(1.0, -24), gamma = double(d) * u / (1.0 - double(d) * u);
  size_t bad = 0;
  for (size_t i = 0; i < e.y.size(); ++i) {
    double acc = gamma * e.mag[i] + double(d) * std::ldexp(1.0, -126);  // (+ flushed subnormals, if any)
    double tol = acc + (out16 ? std::ldexp(std::fabs(e.y[i]) + acc, -11) + std::ldexp(1.0, -25) : 0.0);
    double g = i < got.size() ? double(got[i]) : NAN;
    if (!(std::fabs(g - e.y[i]) <= tol) && ++bad <= 3 && report)
      ADD_FAILURE() << what << ": element " << i << " = " << g << ", exact " << e.y[i] << " (bound " << tol
                    << ", d = " << d << ")";
  }
  if (got.size() != e.y.size() && report) ADD_FAILURE() << what << ": " << got.size() << " results, expected " << e.y.size();
  return got.size() == e.y.size() ? bad : std::max<size_t>(bad, 1);
}

inline void expect_within_bound(const std::vector<float>& got, const ExactGemm& e, uint64_t d, bool out16,
                                const std::string& what) {
  EXPECT_EQ(count_outside_bound(got, e, d, out16, what), 0u) << what;
}

}  // namespace lowbit::test
