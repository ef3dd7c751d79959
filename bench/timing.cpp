// timing.cpp — see timing.hpp.
#include "bench/timing.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

namespace lowbit::bench {

Stats time_op(Context& ctx, const std::function<void()>& op, int warmup, int iters,
              const std::function<void()>& before_each, double warmup_ms) {
  for (int i = 0; i < warmup; ++i) op();
  ctx.wait();
  if (warmup_ms > 0) {
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + std::chrono::duration<double, std::milli>(warmup_ms);
    while (Clock::now() < until) {
      for (int i = 0; i < 4; ++i) op();  // a few in flight: the device never waits on the host
      ctx.wait();
    }
  }
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

double default_warmup_ms(const DeviceInfo& d) { return d.type == "cpu" ? 0.0 : 100.0; }

}  // namespace lowbit::bench
