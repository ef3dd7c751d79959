// program_stats.hpp — counters of the OpenCL program cache, readable from tests and tools without
// including OpenCL headers.
#pragma once

#include <cstdint>
#include <optional>

namespace lowbit::detail {

class Device;

struct ProgramCacheStats {
  uint64_t memory_hits = 0;      // programs found in the in-process cache
  uint64_t disk_loads = 0;       // programs created from a cached binary on disk
  uint64_t source_builds = 0;    // programs compiled from source
  uint64_t disk_rejected = 0;    // cached binaries that were corrupt / not loadable (rebuilt from source)
  uint64_t disk_writes = 0;      // binaries written to the disk cache
};

// The counters of an OpenCL device; nullopt for devices of other backends.
std::optional<ProgramCacheStats> opencl_program_stats(const Device& d);

}  // namespace lowbit::detail
