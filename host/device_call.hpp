// device_call.hpp — what every Context entry point starts with: the device's call lock (one call at a
// time per device, so threads sharing a Context never race on its stream, caches or pools) and, once the
// device is lost, Error(DeviceLost) at once instead of work that can never finish.
#pragma once

#include <mutex>

#include "backend/device.hpp"

namespace lowbit::detail {

class DeviceCall {
 public:
  explicit DeviceCall(Device& d) : lock_(d.call_mutex()) {
    if (std::string why = d.lost_reason(); !why.empty())
      throw Error(ErrorCode::DeviceLost, std::string(to_string(d.info().backend)) + ": device '" + d.info().name +
                                             "' is lost (" + why + "); create a new Context");
  }

 private:
  std::unique_lock<std::recursive_mutex> lock_;
};

}  // namespace lowbit::detail
