// fault_injection.hpp — TEST ONLY: ContextOptions::test_device_lost_at makes the N-th submit or wait of
// queued work on a GPU backend fail as a lost device would (VK_ERROR_DEVICE_LOST / CL_OUT_OF_RESOURCES),
// so that the DeviceLost path — the error, the lost context, its clean destruction — can be tested on
// drivers that never lose a device.
#pragma once

#include <cstdint>

namespace lowbit::detail {

class InjectedDeviceLoss {
 public:
  explicit InjectedDeviceLoss(uint64_t at) : at_(at) {}
  // Counts one submit or wait; true when it is the one that must fail.
  bool fail_now() { return at_ != 0 && ++count_ == at_; }
  // Appended to the error once it fired, so that an injected loss never passes for a real one.
  const char* note() const { return at_ != 0 && count_ >= at_ ? " (injected by test_device_lost_at)" : ""; }

 private:
  uint64_t at_;  // 0 = never
  uint64_t count_ = 0;
};

}  // namespace lowbit::detail
