// timing.cpp — see timing.hpp.
#include "bench/timing.hpp"

#include <algorithm>
#include <vector>

namespace lowbit::bench {

Stats time_op(Context& ctx, const std::function<void()>& op, int warmup, int iters,
              const std::function<void()>& before_each) {
  for (int i = 0; i < warmup; ++i) op();
  ctx.wait();
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    if (before_each) before_each();  // reset_timing below waits for it and drops its time
    ctx.reset_timing();
    op();
    t.push_back(ctx.timing().device_ms);
  }
  std::sort(t.begin(), t.end());
  auto q = [&](double p) { return t[std::min(t.size() - 1, size_t(p * double(t.size() - 1) + 0.5))]; };
  return {q(0.5), q(0.2), q(0.8), iters};
}

}  // namespace lowbit::bench
