// internal_access.hpp — the library's and its tests' way to the internals behind the public handles
// (not installed): the backend device of a Context and the state of a KvCache.
#pragma once

#include "backend/device.hpp"
#include "host/kv_cache_state.hpp"
#include "lowbit/lowbit.hpp"

namespace lowbit::detail {

// The one friend of Context and KvCache; use the functions below.
struct Access {
  static Device& device(const Context& c) { return *c.dev_; }
  static KvCacheState& kv_state(const KvCache& c) { return *c.s_; }
};

// The device a Context runs on (the Context must have been made by Context::create).
inline Device& device_of(const Context& c) { return Access::device(c); }
// What a KvCache holds (the KvCache must have been made by Context::create_kv_cache).
inline KvCacheState& kv_state(const KvCache& c) { return Access::kv_state(c); }

}  // namespace lowbit::detail
