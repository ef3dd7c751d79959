// timing.hpp — repeated device-timed runs of one op: warm-up, then per-iteration device time
// (GPU timestamps / OpenCL profiling events / wall clock on CPU) summarised as median, p20, p80;
// optionally a cache flush ahead of each timed iteration.
#pragma once

#include <functional>
#include <vector>

#include "lowbit/lowbit.hpp"

namespace lowbit::bench {

struct Stats {
  double median_ms = 0, p20_ms = 0, p80_ms = 0;
  int iters = 0;
};

// Times `iters` runs of op after `warmup` untimed ones. warmup_ms > 0 keeps the device busy with op, back
// to back, for at least that long before timing: a GPU idles at low clocks (an H100's SMs sit near
// 345 MHz) and raises them only under sustained load, so a few runs of a 10-µs kernel after seconds of
// host-side setup time the idle clocks, not the kernel. before_each (may be empty) runs ahead of every
// timed iteration, outside the timed window: the bench's cache flush (--flush-mib), so that weights
// re-read across iterations come from DRAM, not a warm L2.
Stats time_op(Context& ctx, const std::function<void()>& op, int warmup, int iters,
              const std::function<void()>& before_each = {}, double warmup_ms = 0);
// The same for several ops timed in turn, iteration by iteration (a, b, a, b, ...), so that whatever
// drifts during the run (clocks, another tenant of a shared CPU) falls on each op alike: a ratio of their
// medians compares them under the same conditions. One Stats per op, in order.
std::vector<Stats> time_interleaved(Context& ctx, const std::vector<std::function<void()>>& ops, int warmup, int iters,
                                    const std::function<void()>& before_each = {}, double warmup_ms = 0);

// The busy warm-up a device needs before timing: 100 ms on GPUs (clocks ramp under load), 0 on CPU
// devices (lavapipe, PoCL, the reference), whose clocks need no ramp and whose runs are long.
double default_warmup_ms(const DeviceInfo& d);

}  // namespace lowbit::bench
