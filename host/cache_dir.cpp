// cache_dir.cpp — cache locations and atomic file writes (see cache_dir.hpp).
#include "host/cache_dir.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "host/io/atomic_file.hpp"
#include "lowbit/lowbit.hpp"

namespace fs = std::filesystem;

namespace lowbit {

fs::path cache_dir(const std::string& override_dir) {
  fs::path p;
  if (!override_dir.empty()) {
    p = override_dir;
  } else if (const char* e = std::getenv("LOWBIT_CACHE_DIR"); e && *e) {
    p = e;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    p = fs::path(x) / "lowbit";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    p = fs::path(h) / ".cache" / "lowbit";
  } else {
    p = fs::temp_directory_path() / "lowbit-cache";
  }
  std::error_code ec;
  fs::create_directories(p, ec);
  return p;
}

void write_file_atomic(const fs::path& path, const void* data, size_t bytes) {
  io::AtomicFile f(path);  // the one temp-file-then-rename writer
  f.write(data, bytes);
  f.commit();
}

bool read_file(const fs::path& path, std::vector<unsigned char>& out) {
  // Only regular files: a directory opens as a stream too, and ext4 reports its end at 2^63 - 1.
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return false;
  uintmax_t n = fs::file_size(path, ec);
  if (ec) return false;
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.resize(static_cast<size_t>(n));
  return static_cast<bool>(f.read(reinterpret_cast<char*>(out.data()), std::streamsize(n))) || n == 0;
}

std::string hash_hex(const std::string& data) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace lowbit
