// memory_budget.cpp — see memory_budget.hpp.
#include "backend/memory_budget.hpp"

namespace lowbit::detail {

bool MemoryBudget::try_take(uint64_t bytes) {
  std::lock_guard lock(mu_);
  if (limit_ && (bytes > limit_ || live_ > limit_ - bytes)) return false;
  live_ += bytes;
  ++count_;
  return true;
}

void MemoryBudget::give(uint64_t bytes) {
  std::lock_guard lock(mu_);
  live_ -= bytes;
  --count_;
}

uint64_t MemoryBudget::live_bytes() const {
  std::lock_guard lock(mu_);
  return live_;
}

uint64_t MemoryBudget::live_allocations() const {
  std::lock_guard lock(mu_);
  return count_;
}

Error MemoryBudget::out_of_memory(uint64_t bytes, const std::string& cause) const {
  std::lock_guard lock(mu_);
  std::string msg = device_ + ": out of memory allocating " + std::to_string(bytes) + " bytes (" + cause + "); " +
                    std::to_string(live_) + " bytes in " + std::to_string(count_) + " allocations are alive";
  if (limit_) msg += " of the " + std::to_string(limit_) + "-byte device_memory_limit";
  return Error(ErrorCode::OutOfMemory, msg + "; free buffers and retry");
}

Error MemoryBudget::over_limit(uint64_t bytes) const {
  return out_of_memory(bytes, "ContextOptions::device_memory_limit / LOWBIT_DEVICE_MEMORY_LIMIT " +
                                  std::to_string(limit_) + " bytes");
}

BudgetCharge::BudgetCharge(std::shared_ptr<MemoryBudget> budget, uint64_t bytes) {
  if (!budget->try_take(bytes)) throw budget->over_limit(bytes);
  budget_ = std::move(budget);
  bytes_ = bytes;
}

void BudgetCharge::reset() {
  if (budget_) budget_->give(bytes_);
  budget_.reset();
  bytes_ = 0;
}

}  // namespace lowbit::detail
