// memory_budget.hpp — the device memory a context holds, counted by every backend's allocator, and the
// cap of ContextOptions::device_memory_limit: an allocation past it is refused with Error(OutOfMemory)
// naming the size asked and what is alive, so out-of-memory handling can be tested deterministically.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "lowbit/lowbit.hpp"

namespace lowbit::detail {

class MemoryBudget {
 public:
  // device: named in errors ("vulkan device 'llvmpipe'"); limit: bytes, 0 = none.
  MemoryBudget(std::string device, uint64_t limit) : device_(std::move(device)), limit_(limit) {}
  uint64_t limit() const { return limit_; }
  // Counts `bytes` more; false (nothing counted) when that would pass the limit.
  bool try_take(uint64_t bytes);
  void give(uint64_t bytes);
  uint64_t live_bytes() const;
  uint64_t live_allocations() const;
  // Error(OutOfMemory): the size asked, why it failed (`cause`), and the bytes and allocations alive.
  Error out_of_memory(uint64_t bytes, const std::string& cause) const;
  // The error for an allocation the limit refuses.
  Error over_limit(uint64_t bytes) const;

 private:
  std::string device_;
  uint64_t limit_;
  mutable std::mutex mu_;
  uint64_t live_ = 0, count_ = 0;
};

// One allocation's bytes counted against a budget, given back when it is destroyed. Move-only.
class BudgetCharge {
 public:
  BudgetCharge() = default;
  // Counts `bytes` against `budget`; throws budget->over_limit(bytes) when refused.
  BudgetCharge(std::shared_ptr<MemoryBudget> budget, uint64_t bytes);
  BudgetCharge(BudgetCharge&& o) noexcept : budget_(std::move(o.budget_)), bytes_(std::exchange(o.bytes_, 0)) {}
  BudgetCharge& operator=(BudgetCharge&& o) noexcept {
    if (this != &o) {
      reset();
      budget_ = std::move(o.budget_);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  BudgetCharge(const BudgetCharge&) = delete;
  BudgetCharge& operator=(const BudgetCharge&) = delete;
  ~BudgetCharge() { reset(); }
  void reset();

 private:
  std::shared_ptr<MemoryBudget> budget_;
  uint64_t bytes_ = 0;
};

// Runs `allocate`; when it fails with OutOfMemory, runs `reclaim` (wait for queued work, free what the
// pools keep) and tries once more, so memory that only waits for the device is not reported as missing.
template <class Allocate, class Reclaim>
auto allocate_or_reclaim(Allocate&& allocate, Reclaim&& reclaim) {
  try {
    return allocate();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::OutOfMemory) throw;
  }
  reclaim();
  return allocate();
}

}  // namespace lowbit::detail
