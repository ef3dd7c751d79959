// budget_split.hpp — how `lowbit tune` spends one --budget on many shapes: cheapest shapes first (by
// their work, the product of the shape's dimensions), each shape's share = the time left / the shapes
// left (what a shape leaves unused flows to the next), and a shape skipped when its default alone,
// predicted from the nearest cheaper shape tuned so far, could not run the few times a search needs
// in its share. What the skipped shapes leave goes to those of them that fit in it, in a second pass.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "autotune/tune_ops.hpp"

namespace lowbit::tune {

// Runs of the default a search cannot do without: its reference run, two timed runs, and about as
// much again for one candidate.
inline constexpr double kMinDefaultRuns = 5;

double shape_work(const OpShape& s);
// Stable: shapes of equal work keep their order.
std::vector<OpShape> cheapest_first(std::vector<OpShape> shapes);

class BudgetSplit {
 public:
  BudgetSplit(double budget_s, size_t shapes) : budget_s_(budget_s), left_(shapes) {}

  // The share of the next shape when `spent_s` of the budget is gone (counts that shape as started).
  double next_share(double spent_s);
  // The seconds `s`'s default would need for kMinDefaultRuns runs, scaled from the last recorded shape;
  // nullopt before any shape was recorded.
  std::optional<double> predicted_min_s(const OpShape& s) const;
  // Why `s` is skipped with `share_s` seconds ("" when it is tuned).
  std::string skip_reason(const OpShape& s, double share_s) const;
  // A tuned shape's default time (ms), for the predictions of the next ones.
  void record(const OpShape& s, double default_ms);
  // The second chance of skipped shapes (cheapest first): how many of them, from the first, fit in
  // `left_s` together by their predicted needs; those become the shapes left to share it.
  size_t second_chance(const std::vector<OpShape>& skipped, double left_s);

 private:
  double budget_s_;
  size_t left_;
  double last_work_ = 0, last_default_ms_ = 0;
};

}  // namespace lowbit::tune
