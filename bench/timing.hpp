// timing.hpp — repeated device-timed runs of one op: warm-up, then per-iteration device time
// (GPU timestamps / OpenCL profiling events / wall clock on CPU) summarised as median, p20, p80;
// optionally a cache flush ahead of each timed iteration.
#pragma once

#include <functional>

#include "lowbit/lowbit.hpp"

namespace lowbit::bench {

struct Stats {
  double median_ms = 0, p20_ms = 0, p80_ms = 0;
  int iters = 0;
};

// before_each (may be empty) runs ahead of every timed iteration, outside the timed window: the bench's
// cache flush (--flush-mib), so that weights re-read across iterations come from DRAM, not a warm L2.
Stats time_op(Context& ctx, const std::function<void()>& op, int warmup, int iters,
              const std::function<void()>& before_each = {});

}  // namespace lowbit::bench
