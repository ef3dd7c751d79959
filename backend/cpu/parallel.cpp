// parallel.cpp — see parallel.hpp.
#include "backend/cpu/parallel.hpp"

#include <algorithm>
#include <thread>
#include <vector>

namespace lowbit::detail {

uint64_t parallel_chunks(uint64_t n, uint64_t grain) {
  uint64_t hw = std::max(1u, std::thread::hardware_concurrency());
  return std::min<uint64_t>(hw, (n + grain - 1) / std::max<uint64_t>(grain, 1));
}

void parallel_for(uint64_t n, uint64_t grain, const std::function<void(uint64_t, uint64_t)>& fn) {
  uint64_t chunks = parallel_chunks(n, grain);
  if (chunks <= 1) {
    if (n) fn(0, n);
    return;
  }
  std::vector<std::thread> ts;
  uint64_t step = (n + chunks - 1) / chunks;
  for (uint64_t b = step; b < n; b += step) ts.emplace_back(fn, b, std::min(n, b + step));
  fn(0, std::min(n, step));
  for (auto& t : ts) t.join();
}

}  // namespace lowbit::detail
