// tuner.hpp — the search: one tuning task (an op at one shape on one context) is tried with every
// pruned candidate of its kernel family whose launch differs from the others' (distinct_launches).
// Each candidate first runs once and its output is verified against the reference (the default
// configuration's output, or the task's own); only verified ones are timed. Successive halving: all
// survivors timed with R device-timed runs (median, spread), the slower half dropped, R doubled, until
// one is left or the time budget is spent. The default is always kept and timed in every round, so
// the winner is never slower than the default on the tuned shape.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autotune/search_space.hpp"
#include "lowbit/lowbit.hpp"
#include "lowbit/progress.hpp"

namespace lowbit::tune {

struct TuneTask {
  std::string label;                                   // "w4a16 1x4096x4096"
  Problem problem;                                     // for pruning
  std::function<void(const KernelConfig&)> run;        // launches the op once (the context's override is set)
  std::function<std::vector<float>()> output;          // the last run's result
  std::vector<float> reference;                        // empty: the default configuration's output
  double tolerance = 1e-2;                             // max |y - ref| <= tolerance * max |ref|
};

struct Measured {
  KernelConfig config;
  bool verified = false;
  std::string rejected;  // why it was not verified (wrong output, could not run)
  double median_ms = 0, p20_ms = 0, p80_ms = 0;
  int runs = 0;
};

struct TuneResult {
  KernelChoice key;  // family, format and shape as the op's own lookup sees them
  KernelConfig best;
  double best_ms = 0, default_ms = 0;
  size_t candidates = 0, verified = 0, rejected = 0;
  size_t same_launch = 0;  // candidates dropped before any run: they launch what another one does
  bool budget_ran_out = false;
  std::vector<Measured> measured;
};

struct SearchOptions {
  double budget_s = 60;   // wall-clock budget of this task
  int first_runs = 2;     // timed runs per candidate in the first round (doubled each round)
  ProgressFn progress;    // after each candidate verified / each round (done, total, item: best so far, time left)
  // Test hook: a candidate list to use instead of the family's (the default must be first).
  std::vector<KernelConfig> candidates;
};

TuneResult tune_task(Context& ctx, const TuneTask& task, const SearchOptions& o);

}  // namespace lowbit::tune
