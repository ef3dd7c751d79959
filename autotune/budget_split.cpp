// budget_split.cpp — the budget split of `lowbit tune` over shapes (see budget_split.hpp).
#include "autotune/budget_split.hpp"

#include <algorithm>
#include <cstdio>

namespace lowbit::tune {

double shape_work(const OpShape& s) {
  double w = 1;
  for (int64_t d : s.dims) w *= double(d);
  return w;
}

std::vector<OpShape> cheapest_first(std::vector<OpShape> shapes) {
  std::stable_sort(shapes.begin(), shapes.end(),
                   [](const OpShape& a, const OpShape& b) { return shape_work(a) < shape_work(b); });
  return shapes;
}

double BudgetSplit::next_share(double spent_s) {
  const double share = std::max(0.0, budget_s_ - spent_s) / double(std::max<size_t>(1, left_));
  if (left_ > 0) --left_;
  return share;
}

std::optional<double> BudgetSplit::predicted_min_s(const OpShape& s) const {
  if (last_work_ <= 0) return std::nullopt;
  return kMinDefaultRuns * last_default_ms_ / 1000 * shape_work(s) / last_work_;
}

std::string BudgetSplit::skip_reason(const OpShape& s, double share_s) const {
  const std::optional<double> need = predicted_min_s(s);
  if (!need || *need <= share_s) return "";
  char buf[160];
  std::snprintf(buf, sizeof buf, "skipped: the default alone needs about %.0f s here, its share was %.0f s", *need, share_s);
  return buf;
}

void BudgetSplit::record(const OpShape& s, double default_ms) {
  last_work_ = shape_work(s);
  last_default_ms_ = default_ms;
}

size_t BudgetSplit::second_chance(const std::vector<OpShape>& skipped, double left_s) {
  size_t n = 0;
  double need = 0;
  for (const OpShape& s : skipped) {
    need += predicted_min_s(s).value_or(left_s + 1);
    if (need > left_s) break;
    ++n;
  }
  left_ = n;
  return n;
}

}  // namespace lowbit::tune
