// progress.hpp — the progress callback long library operations (file conversion, packing, benchmark
// sweeps, tuning) call after each item they finish, so that a front end can draw a progress bar.
// The library never draws anything itself; the CLI renders these events on stderr when it is a terminal.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace lowbit {

struct ProgressEvent {
  size_t done = 0, total = 0;                  // items (tensors, shapes, candidates) finished / in all
  uint64_t bytes_done = 0, bytes_total = 0;    // 0 when the operation does not count bytes
  std::string item;                            // the item just finished (tensor name, shape, ...)
};

// Called on the calling thread after each item; an empty function means "no progress reporting".
using ProgressFn = std::function<void(const ProgressEvent&)>;

}  // namespace lowbit
