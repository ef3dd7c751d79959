// parallel.hpp — splits a range of rows over the machine's cores (std::thread, no pool state).
#pragma once

#include <cstdint>
#include <functional>

namespace lowbit::detail {
// How many chunks (threads) parallel_for(n, grain, ...) uses.
uint64_t parallel_chunks(uint64_t n, uint64_t grain);
// Calls fn(begin, end) on disjoint chunks covering [0, n); at least `grain` items per chunk.
void parallel_for(uint64_t n, uint64_t grain, const std::function<void(uint64_t, uint64_t)>& fn);
}
