// tuner.cpp — verification and successive halving (see tuner.hpp).
#include "autotune/tuner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "bench/timing.hpp"
#include "host/internal_access.hpp"

namespace lowbit::tune {

namespace {

using Clock = std::chrono::steady_clock;

// "" when y matches ref within tol * max|ref| (NaN where ref is not NaN fails), else why not.
std::string compare(const std::vector<float>& y, const std::vector<float>& ref, double tol) {
  if (y.size() != ref.size()) return "output has " + std::to_string(y.size()) + " values, expected " + std::to_string(ref.size());
  double scale = 0, worst = 0;
  for (float r : ref)
    if (std::isfinite(r)) scale = std::max(scale, double(std::fabs(r)));
  for (size_t i = 0; i < y.size(); ++i) {
    if (std::isnan(ref[i])) continue;
    if (!std::isfinite(y[i]) && y[i] != ref[i]) return "non-finite value at " + std::to_string(i);
    worst = std::max(worst, std::fabs(double(y[i]) - double(ref[i])));
  }
  if (worst > tol * std::max(scale, 1e-30)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "max error %.3g exceeds %.3g (tolerance %.1e of max |ref| %.3g)", worst,
                  tol * scale, tol, scale);
    return buf;
  }
  return "";
}

// One launch with `c` forced; the context goes back to its lookup afterwards, also on an error.
void launch(Context& ctx, const TuneTask& t, const KernelConfig& c) {
  ctx.set_kernel_config(c);
  try {
    t.run(c);
  } catch (...) {
    ctx.set_kernel_config(std::nullopt);
    throw;
  }
  ctx.set_kernel_config(std::nullopt);
}

}  // namespace

TuneResult tune_task(Context& ctx, const TuneTask& t, const SearchOptions& o) {
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  TuneResult res;

  // The default first: its lookup key, and the reference when the task brings none.
  ctx.set_kernel_config(std::nullopt);
  t.run(KernelConfig{});
  res.key = ctx.last_kernel_choice();
  std::vector<float> ref = t.reference.empty() ? t.output() : t.reference;
  std::vector<KernelConfig> cands = o.candidates;
  if (cands.empty()) {  // the family's, without configs that launch what an earlier one (the default) does
    const Family& f = family(res.key.family);
    const std::vector<KernelConfig> all = candidates(f, limits_of(ctx.device_info()), t.problem);
    cands = distinct_launches(f, all, t.problem, detail::device_of(ctx).launch_profile());
    res.same_launch = all.size() - cands.size();
  }
  res.candidates = cands.size();

  auto report = [&](size_t done, size_t total, const std::string& what) {
    if (!o.progress) return;
    ProgressEvent e;
    e.done = done, e.total = total;
    char left[32];
    std::snprintf(left, sizeof left, "%.0f s left", std::max(0.0, o.budget_s - elapsed()));
    e.item = t.label + ": " + what + ", " + left;
    o.progress(e);
  };

  // Verification: one run each (it also compiles the variant: the warm-up). Half the budget at most.
  std::vector<Measured> alive;
  for (size_t i = 0; i < cands.size(); ++i) {
    if (i > 0 && elapsed() > o.budget_s / 2) {
      res.budget_ran_out = true;
      break;
    }
    Measured m;
    m.config = cands[i];
    try {
      launch(ctx, t, cands[i]);
      m.rejected = compare(t.output(), ref, t.tolerance);
    } catch (const Error& e) {
      m.rejected = std::string("could not run: ") + e.what();
    }
    m.verified = m.rejected.empty();
    if (i == 0 && !m.verified)
      throw Error(ErrorCode::Internal, t.label + ": the default configuration disagrees with the reference (" + m.rejected + ")");
    (m.verified ? res.verified : res.rejected) += 1;
    if (m.verified) alive.push_back(m);
    else res.measured.push_back(m);
    report(i + 1, cands.size(), "verified " + std::to_string(res.verified) + "/" + std::to_string(i + 1));
  }

  // Successive halving; alive[0] is the default and always stays. A GPU first runs the default back to
  // back until its clocks are up (bench::default_warmup_ms), then every measurement keeps them there with
  // a short busy warm-up of its own: otherwise the first candidates of a round (the default first of all)
  // are timed at idle clocks and lose to whatever runs after them.
  const double warm_ms = bench::default_warmup_ms(ctx.device_info());
  if (warm_ms > 0) bench::time_op(ctx, [&] { t.run(KernelConfig{}); }, 0, 1, {}, 2 * warm_ms);
  int runs = std::max(1, o.first_runs);
  for (int round = 0;; ++round, runs *= 2) {
    for (Measured& m : alive) {
      ctx.set_kernel_config(m.config);
      bench::Stats s = bench::time_op(ctx, [&] { t.run(m.config); }, 0, runs, {}, warm_ms / 10);
      ctx.set_kernel_config(std::nullopt);
      m.median_ms = s.median_ms, m.p20_ms = s.p20_ms, m.p80_ms = s.p80_ms, m.runs = runs;
    }
    std::vector<Measured> rest(alive.begin() + 1, alive.end());
    std::sort(rest.begin(), rest.end(), [](const Measured& a, const Measured& b) { return a.median_ms < b.median_ms; });
    const double best = std::min(alive[0].median_ms, rest.empty() ? alive[0].median_ms : rest[0].median_ms);
    char buf[64];
    std::snprintf(buf, sizeof buf, "round %d, %zu left, best %.3f ms", round + 1, alive.size(), best);
    report(res.verified, res.verified, buf);
    const bool out_of_time = elapsed() > o.budget_s;
    res.budget_ran_out = res.budget_ran_out || out_of_time;
    if (rest.size() <= 1 || out_of_time) {
      alive.resize(1);
      alive.insert(alive.end(), rest.begin(), rest.end());
      break;
    }
    for (size_t i = (rest.size() + 1) / 2; i < rest.size(); ++i) res.measured.push_back(rest[i]);
    rest.resize((rest.size() + 1) / 2);
    alive.resize(1);
    alive.insert(alive.end(), rest.begin(), rest.end());
  }
  // A candidate beats the default only below the default's p20 (outside its run-to-run noise), so a
  // configuration that launches like the default does not win on a lucky run.
  res.default_ms = alive[0].median_ms;
  res.best = alive[0].config, res.best_ms = alive[0].median_ms;
  for (size_t i = 1; i < alive.size(); ++i)
    if (alive[i].median_ms < std::min(res.best_ms, alive[0].p20_ms)) res.best = alive[i].config, res.best_ms = alive[i].median_ms;
  res.measured.insert(res.measured.end(), alive.begin(), alive.end());
  return res;
}

}  // namespace lowbit::tune
