// tuning_db.hpp — the tuning database: a JSON file (default <cache dir>/tuning.json, $LOWBIT_TUNING_DB or
// --db) of measured best configurations, keyed by device (names and PCI ids), driver, kernel-source hash, kernel family,
// format and shape bucket (M rounded up to a power of two, N and K exact). Reading never throws for the
// file's content: a corrupt file or entry is reported in `problem` and skipped. Writing merges under an
// exclusive lock (flock on <db>.lock, so concurrent tuners lose nothing) and replaces the file atomically;
// it refuses to overwrite a file it cannot read as a tuning database (left for inspection).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lowbit/lowbit.hpp"
#include "lowbit/tuning.hpp"

namespace lowbit::tune {

struct DbKey {
  std::string backend, vendor, device, driver, kernel_hash, family, format;
  // DeviceInfo::vendor_id / device_id. has_ids false: an entry of the previous format (written before the
  // ids were recorded): read, never matched at dispatch (one warning), and written back as it was.
  uint32_t vendor_id = 0, device_id = 0;
  bool has_ids = true;
  int64_t m_bucket = 1, n = 0, k = 0;
  bool operator==(const DbKey&) const = default;
};

struct DbEntry {
  DbKey key;
  KernelConfig config;
  double config_ms = 0, default_ms = 0;
  std::string date;  // YYYY-MM-DD
};

struct DbFile {
  std::vector<DbEntry> entries;  // the readable ones
  std::vector<std::string> unread;  // entries that could not be read, as JSON text (kept on a rewrite)
  std::string problem;           // why (part of) the file was ignored; empty when it read cleanly
  bool unreadable = false;       // not a tuning database at all (not JSON, wrong top-level types)
};

// The power-of-two bucket of M (1, 2, 4, 8, ...).
int64_t m_bucket(int64_t m);
// The database path: `explicit_path`, else $LOWBIT_TUNING_DB, else <cache_dir(cache_dir_option)>/tuning.json.
std::filesystem::path db_path(const std::string& explicit_path, const std::string& cache_dir_option);

// A missing file is an empty database.
DbFile read_db(const std::filesystem::path& path);
// Adds `entries` (replacing those with the same key) under the lock; throws Error(Io) naming the file
// when the existing file is not a readable tuning database (it is left untouched).
void merge_into_db(const std::filesystem::path& path, const std::vector<DbEntry>& entries);

// The key fields of this device (backend, vendor and its id, device name and id, driver).
DbKey device_key(const DeviceInfo& d);
std::string today();

}  // namespace lowbit::tune
