// tuning_state.hpp — what a device's ops consult at dispatch: an in-memory index of the tuning
// database's entries for this device, driver and kernels (loaded once, on the first lookup), the
// shipped table, an explicit override, and the last choice made (for `lowbit bench` / `run`).
// Lookup order: override -> database (exact M bucket, then the nearest) -> shipped -> heuristic.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "autotune/search_space.hpp"
#include "autotune/tuning_db.hpp"
#include "backend/device.hpp"

namespace lowbit::detail {

class TuningState {
 public:
  // db_option / cache_dir_option: ContextOptions::tuning_db / cache_dir (resolved at the first lookup).
  TuningState(std::string db_option, std::string cache_dir_option, DeviceInfo device);

  // The configuration for one launch of `family` (records it as the last choice).
  KernelChoice choose(const std::string& family, const std::string& format, const tune::Problem& p);
  void set_override(std::optional<KernelConfig> c);
  KernelChoice last() const;
  std::filesystem::path db_path() const;
  // Forgets the loaded index (the next lookup reads the file again), e.g. after the tuner wrote to it.
  void reload();

 private:
  void load_locked();  // mutex_ held
  void warn_once_locked(const std::string& what, const std::string& message);

  mutable std::mutex mutex_;
  std::string db_option_, cache_dir_option_;
  DeviceInfo device_;
  tune::Limits limits_;
  bool no_shipped_;  // LOWBIT_NO_SHIPPED set when the state was made: the shipped rows are skipped
  bool loaded_ = false;
  std::vector<tune::DbEntry> entries_;  // this device, driver and kernel hashes only
  std::set<std::string> warned_;
  std::optional<KernelConfig> override_;
  KernelChoice last_;
  uint64_t lookups_ = 0;
};

// dev.tuning->choose(...), or the heuristic when the device has no tuning state.
KernelChoice choose_config(Device& dev, const std::string& family, const std::string& format, const tune::Problem& p);

}  // namespace lowbit::detail
