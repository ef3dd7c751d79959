// no_device.hpp — what an engine throws when the machine has no device for it: the run is skipped, not failed.
#pragma once

#include <stdexcept>

namespace example {

struct NoDevice : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace example
