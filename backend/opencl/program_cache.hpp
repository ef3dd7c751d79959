// program_cache.hpp — builds OpenCL programs from source + -D options, caching them in-process by
// (source, options) and on disk as program binaries keyed by the driver stack, source and options.
//
// Disk entries are `<cache_dir>/opencl-<hash>.bin`: an 8-byte magic, the payload size and its hash,
// then the driver's binary. A file that fails those checks, or that the driver will not load or build,
// is logged as a warning and replaced by a fresh build from source.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <span>
#include <string>

#include "backend/opencl/cl_util.hpp"
#include "backend/opencl/program_stats.hpp"

namespace lowbit::detail::cl {

// A cache file's bytes checked (magic, payload size, payload hash): the driver's binary inside them, or
// why they are not a usable entry (`problem` non-empty, `binary` empty).
struct ProgramCacheEntry {
  std::span<const unsigned char> binary;
  std::string problem;
};
ProgramCacheEntry parse_program_cache_entry(std::span<const unsigned char> bytes);

class ProgramCache {
 public:
  // driver_key: see cl_platform.hpp; dir: the on-disk cache folder (empty path = memory only).
  ProgramCache(cl_context ctx, cl_device_id dev, std::string driver_key, std::filesystem::path dir);

  // A built program (owned by the cache). `label` names the source in errors and logs. Throws
  // Error(Backend) with the build log when the source does not compile.
  cl_program get(const std::string& label, const std::string& source, const std::string& options);

  ProgramCacheStats stats() const;

 private:
  Program build_from_source(const std::string& label, const std::string& source, const std::string& options);
  Program load_binary(const std::filesystem::path& file, const std::string& options);
  void store_binary(cl_program p, const std::filesystem::path& file);

  cl_context ctx_;
  cl_device_id dev_;
  std::string driver_key_;
  std::filesystem::path dir_;
  mutable std::mutex mu_;
  std::map<std::string, Program> programs_;  // key: options + '\0' + source
  ProgramCacheStats stats_;
};

}  // namespace lowbit::detail::cl
