// timing.hpp — repeated device-timed runs of one op: warm-up, then per-iteration device time
// (GPU timestamps / OpenCL profiling events / wall clock on CPU) summarised as median, p20, p80.
#pragma once

#include <functional>

#include "lowbit/lowbit.hpp"

namespace lowbit::bench {

struct Stats {
  double median_ms = 0, p20_ms = 0, p80_ms = 0;
  int iters = 0;
};

Stats time_op(Context& ctx, const std::function<void()>& op, int warmup, int iters);

}  // namespace lowbit::bench
