// tuning_state.cpp — the dispatch-time lookup (see tuning_state.hpp).
#include "autotune/tuning_state.hpp"

#include <cmath>
#include <cstdlib>
#include <string>

#include "autotune/shipped.hpp"
#include "host/log.hpp"

namespace lowbit::detail {

TuningState::TuningState(std::string db_option, std::string cache_dir_option, DeviceInfo device)
    : db_option_(std::move(db_option)), cache_dir_option_(std::move(cache_dir_option)), device_(std::move(device)),
      limits_(tune::limits_of(device_)), no_shipped_([] {
        const char* e = std::getenv("LOWBIT_NO_SHIPPED");
        return e && *e && std::string(e) != "0";
      }()) {}

std::filesystem::path TuningState::db_path() const { return tune::db_path(db_option_, cache_dir_option_); }

void TuningState::warn_once_locked(const std::string& what, const std::string& message) {
  if (warned_.insert(what).second) log().warn("{}", message);
}

void TuningState::load_locked() {
  if (loaded_) return;
  loaded_ = true;
  const auto path = db_path();
  tune::DbFile f = tune::read_db(path);
  if (!f.problem.empty())
    warn_once_locked("file", "tuning database " + path.string() + " " + f.problem +
                                 ": ignored (left as it is); using the shipped defaults and heuristics");
  const tune::DbKey me = tune::device_key(device_);
  size_t stale = 0;
  std::string why;
  for (tune::DbEntry& e : f.entries) {
    if (e.key.backend != me.backend || e.key.vendor != me.vendor || e.key.device != me.device) continue;
    if (e.key.has_ids && (e.key.vendor_id != me.vendor_id || e.key.device_id != me.device_id)) continue;  // another device of that name
    std::string hash;
    try {
      hash = tune::kernel_hash(tune::family(e.key.family), device_.backend);
    } catch (const Error&) {
      hash = "";  // a family this lowbit does not have
    }
    if (!e.key.has_ids || e.key.driver != me.driver || e.key.kernel_hash != hash) {
      if (stale++ == 0)
        why = !e.key.has_ids                ? "written by an older lowbit, without vendor and device ids"
              : e.key.driver != me.driver ? "driver " + e.key.driver + ", this one is " + me.driver
                                          : "kernels changed since (" + e.key.family + ")";
      continue;
    }
    entries_.push_back(std::move(e));
  }
  if (stale)
    warn_once_locked("stale", "tuning database " + path.string() + ": " + std::to_string(stale) + " entr" +
                                  (stale == 1 ? "y" : "ies") + " for this device ignored (" + why +
                                  "); they stay in the file; run `lowbit tune` again");
}

KernelChoice TuningState::choose(const std::string& family, const std::string& format, const tune::Problem& p) {
  std::lock_guard lock(mutex_);
  KernelChoice c;
  c.family = family, c.format = format, c.m = p.m, c.n = p.n, c.k = p.k, c.serial = ++lookups_;
  if (override_) {
    c.config = *override_, c.source = "override";
    return last_ = c;
  }
  load_locked();
  const tune::DbEntry* best = nullptr;
  const int64_t want = tune::m_bucket(p.m);
  double best_dist = 0;
  for (const tune::DbEntry& e : entries_) {
    if (e.key.family != family || e.key.format != format || e.key.n != p.n || e.key.k != p.k) continue;
    const double dist = std::abs(std::log2(double(e.key.m_bucket)) - std::log2(double(want))) +
                        (e.key.m_bucket > want ? 0.25 : 0);  // ties: the smaller bucket
    if (!best || dist < best_dist) best = &e, best_dist = dist;
  }
  if (best) {
    const std::string v = tune::family(family).violation(best->config, limits_, p);
    if (v.empty()) {
      c.config = best->config;
      c.source = best->config.empty() ? "default" : "tuned";
      return last_ = c;
    }
    warn_once_locked("config:" + family + to_string(best->config),
                     "tuning database " + db_path().string() + ": " + family + " config '" + to_string(best->config) +
                         "' cannot run here (" + v + "): ignored, left in the file");
  }
  // LOWBIT_NO_SHIPPED=1: the heuristic where no database entry applies (what the planners alone would
  // launch; `lowbit tune` then measures tuned against that)
  if (const tune::ShippedRow* r = no_shipped_ ? nullptr : tune::find_shipped(device_, family, p.m, p.n, p.k)) {
    c.config = parse_kernel_config(r->config), c.source = "shipped";
    if (tune::family(family).violation(c.config, limits_, p).empty()) return last_ = c;
  }
  c.config = {}, c.source = "heuristic";
  return last_ = c;
}

void TuningState::set_override(std::optional<KernelConfig> c) {
  std::lock_guard lock(mutex_);
  override_ = c;
}

KernelChoice TuningState::last() const {
  std::lock_guard lock(mutex_);
  return last_;
}

void TuningState::reload() {
  std::lock_guard lock(mutex_);
  loaded_ = false;
  entries_.clear();
}

KernelChoice choose_config(Device& dev, const std::string& family, const std::string& format, const tune::Problem& p) {
  if (!dev.tuning) return {family, {}, "heuristic", format, p.m, p.n, p.k};
  return dev.tuning->choose(family, format, p);
}

}  // namespace lowbit::detail
