// context_options.hpp — fills the unset ContextOptions fields every backend shares from their
// environment variables (LOWBIT_DEVICE_MEMORY_LIMIT, LOWBIT_DETERMINISTIC, LOWBIT_TEST_DEVICE_LOST_AT).
#pragma once

#include "lowbit/lowbit.hpp"

namespace lowbit::detail {

// Throws InvalidArgument naming the variable when one holds no valid value.
ContextOptions with_environment(ContextOptions o);

class Device;
// Gives a new device what it takes from the options beside its backend: the deterministic flag and the tuning
// state its ops consult (host/context.cpp). Every way of making a Context calls it.
void configure_device(Device& d, const ContextOptions& o);

}  // namespace lowbit::detail
