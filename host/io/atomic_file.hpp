// atomic_file.hpp — writer for an output file that replaces its target only on commit(): until then the
// bytes live in a temp file in the target's folder, so a failed, interrupted or crashed run never leaves
// a partial output or touches an old one. The temp is unnamed (O_TMPFILE, linked in at commit: nothing
// can survive any crash) where the filesystem allows, else a hidden named file that the destructor and
// the SIGINT/SIGTERM/SIGHUP handlers of temp_registry.hpp remove. commit() makes the result durable:
// fsync(file), link/rename over the target, fsync(folder).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>

namespace lowbit::io {

class AtomicFile {
 public:
  enum class Temp { Unnamed, Named };  // Unnamed falls back to Named where it is not supported
  explicit AtomicFile(const std::filesystem::path& target, Temp prefer = Temp::Unnamed);  // throws Error(Io)
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t bytes);                     // appends
  void write_at(uint64_t offset, const void* data, size_t bytes);  // at a byte offset, file position unchanged
  void commit();
  bool unnamed() const { return unnamed_; }

 private:
  [[noreturn]] void fail(int err) const;
  // Picks a fresh hidden name beside the target, registers it for removal on a signal, and runs
  // `create` on it (0 or an errno); retries on EEXIST.
  void create_named(const std::function<int(const std::filesystem::path&)>& create);
  void discard_named();
  std::filesystem::path target_, tmp_;
  int fd_ = -1;
  int slot_ = -1;  // temp_registry slot of tmp_
  bool unnamed_ = false;
};

}  // namespace lowbit::io
