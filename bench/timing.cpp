// timing.cpp — see timing.hpp.
#include "bench/timing.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

namespace lowbit::bench {

std::vector<Stats> time_interleaved(Context& ctx, const std::vector<std::function<void()>>& ops, int warmup, int iters,
                                    const std::function<void()>& before_each, double warmup_ms) {
  for (const auto& op : ops)
    for (int i = 0; i < warmup; ++i) op();
  ctx.wait();
  if (warmup_ms > 0) {
    using Clock = std::chrono::steady_clock;
    const auto until = Clock::now() + std::chrono::duration<double, std::milli>(warmup_ms);
    while (Clock::now() < until) {
      for (int i = 0; i < 4; ++i)  // a few in flight: the device never waits on the host
        for (const auto& op : ops) op();
      ctx.wait();
    }
  }
  std::vector<std::vector<double>> t(ops.size());
  for (int i = 0; i < iters; ++i)
    for (size_t j = 0; j < ops.size(); ++j) {
      if (before_each) before_each();  // reset_timing below waits for it and drops its time
      ctx.reset_timing();
      ops[j]();
      t[j].push_back(ctx.timing().device_ms);
    }
  std::vector<Stats> out;
  for (auto& v : t) {
    std::sort(v.begin(), v.end());
    auto q = [&](double p) { return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))]; };
    out.push_back({q(0.5), q(0.2), q(0.8), iters});
  }
  return out;
}

Stats time_op(Context& ctx, const std::function<void()>& op, int warmup, int iters,
              const std::function<void()>& before_each, double warmup_ms) {
  return time_interleaved(ctx, {op}, warmup, iters, before_each, warmup_ms)[0];
}

double default_warmup_ms(const DeviceInfo& d) { return d.type == "cpu" ? 0.0 : 100.0; }

}  // namespace lowbit::bench
