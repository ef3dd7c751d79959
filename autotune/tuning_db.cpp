// tuning_db.cpp — reading, merging and atomically writing the tuning database (JSON), under a file lock.
#include "autotune/tuning_db.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "host/cache_dir.hpp"

namespace lowbit::tune {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kDbVersion = 1;

json to_json(const DbEntry& e) {
  json j = {{"backend", e.key.backend}, {"vendor", e.key.vendor},   {"device", e.key.device},
            {"driver", e.key.driver},   {"kernel_hash", e.key.kernel_hash}, {"family", e.key.family},
            {"format", e.key.format},   {"m_bucket", e.key.m_bucket}, {"n", e.key.n},
            {"k", e.key.k},             {"config", to_string(e.config)}, {"config_ms", e.config_ms},
            {"default_ms", e.default_ms}, {"date", e.date}};
  if (e.key.has_ids) j["vendor_id"] = e.key.vendor_id, j["device_id"] = e.key.device_id;
  return j;
}

// vendor_id / device_id: both absent = an entry of the previous format; one absent or not a 32-bit
// unsigned integer throws.
void ids_from_json(const json& j, DbKey& key) {
  key.has_ids = j.contains("vendor_id") || j.contains("device_id");
  if (!key.has_ids) return;
  for (auto [name, field] : {std::pair{"vendor_id", &key.vendor_id}, {"device_id", &key.device_id}}) {
    if (!j.at(name).is_number_unsigned() || j.at(name).get<uint64_t>() > UINT32_MAX)
      throw Error(ErrorCode::Io, std::string(name) + " is not a 32-bit unsigned integer");
    *field = j.at(name).get<uint32_t>();
  }
}

// Throws (json type errors, Error) when a field is missing or of the wrong type.
DbEntry from_json(const json& j) {
  DbEntry e;
  e.key.backend = j.at("backend").get<std::string>();
  e.key.vendor = j.at("vendor").get<std::string>();
  e.key.device = j.at("device").get<std::string>();
  e.key.driver = j.at("driver").get<std::string>();
  e.key.kernel_hash = j.at("kernel_hash").get<std::string>();
  e.key.family = j.at("family").get<std::string>();
  e.key.format = j.at("format").get<std::string>();
  ids_from_json(j, e.key);
  for (auto [name, field] : {std::pair{"m_bucket", &e.key.m_bucket}, {"n", &e.key.n}, {"k", &e.key.k}}) {
    if (!j.at(name).is_number_integer()) throw Error(ErrorCode::Io, std::string(name) + " is not an integer");
    *field = j.at(name).get<int64_t>();
  }
  e.config = parse_kernel_config(j.at("config").get<std::string>());
  if (!j.at("config_ms").is_number() || !j.at("default_ms").is_number()) throw Error(ErrorCode::Io, "times are not numbers");
  e.config_ms = j.at("config_ms").get<double>();
  e.default_ms = j.at("default_ms").get<double>();
  e.date = j.at("date").get<std::string>();
  return e;
}

// Holds an exclusive flock on <db>.lock for its lifetime (the lock file stays: removing it would race).
class DbLock {
 public:
  explicit DbLock(const fs::path& db) {
    const fs::path lock = db.string() + ".lock";
    fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ErrorCode::Io, "tuning database: cannot open the lock file " + lock.string());
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) throw Error(ErrorCode::Io, "tuning database: cannot lock " + lock.string());
  }
  ~DbLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  DbLock(const DbLock&) = delete;
  DbLock& operator=(const DbLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace

int64_t m_bucket(int64_t m) {
  int64_t b = 1;
  while (b < m) b *= 2;
  return b;
}

fs::path db_path(const std::string& explicit_path, const std::string& cache_dir_option) {
  if (!explicit_path.empty()) return explicit_path;
  if (const char* env = std::getenv("LOWBIT_TUNING_DB"); env && *env) return env;
  return cache_dir(cache_dir_option) / "tuning.json";
}

DbFile read_db(const fs::path& path) {
  DbFile f;
  std::vector<unsigned char> bytes;
  std::error_code ec;
  if (!fs::exists(path, ec)) return f;
  if (!read_file(path, bytes)) {
    f.unreadable = true;
    f.problem = "cannot be read";
    return f;
  }
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    f.unreadable = true;
    f.problem = "is not JSON";
    return f;
  }
  if (!j.is_object() || !j.contains("entries") || !j["entries"].is_array() || !j.contains("version") ||
      !j["version"].is_number_integer()) {
    f.unreadable = true;
    f.problem = "is not a tuning database (expected {\"version\": 1, \"entries\": [...]})";
    return f;
  }
  if (j["version"].get<int64_t>() != kDbVersion) {
    f.unreadable = true;
    f.problem = "has version " + j["version"].dump() + " (this lowbit reads version " + std::to_string(kDbVersion) + ")";
    return f;
  }
  size_t bad = 0;
  std::string first;
  for (const json& e : j["entries"]) {
    try {
      f.entries.push_back(from_json(e));
    } catch (const std::exception& ex) {
      if (bad++ == 0) first = ex.what();
      f.unread.push_back(e.dump());
    }
  }
  if (bad) f.problem = std::to_string(bad) + " entr" + (bad == 1 ? "y" : "ies") + " with missing or mistyped fields (" + first + ")";
  return f;
}

void merge_into_db(const fs::path& path, const std::vector<DbEntry>& entries) {
  DbLock lock(path);
  DbFile f = read_db(path);  // re-read under the lock: another tuner may have written since
  if (f.unreadable)
    throw Error(ErrorCode::Io, "tuning database " + path.string() + " " + f.problem +
                                   "; it is left as it is for inspection: move it away or pass another --db");
  for (const DbEntry& e : entries) {
    auto same = [&](const DbEntry& x) { return x.key == e.key; };
    std::erase_if(f.entries, same);
    f.entries.push_back(e);
  }
  json out = {{"version", kDbVersion}, {"entries", json::array()}};
  for (const DbEntry& e : f.entries) out["entries"].push_back(to_json(e));
  for (const std::string& raw : f.unread) out["entries"].push_back(json::parse(raw));  // kept as they were
  const std::string text = out.dump(1) + "\n";
  write_file_atomic(path, text.data(), text.size());
}

DbKey device_key(const DeviceInfo& d) {
  DbKey k;
  k.backend = to_string(d.backend);
  k.vendor = d.vendor;
  k.vendor_id = d.vendor_id;
  k.device = d.name;
  k.device_id = d.device_id;
  k.driver = d.driver_version;
  return k;
}

std::string today() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace lowbit::tune
