// atomic_file.hpp — streaming writer for an output file: bytes go to a temp file in the target's
// folder, which replaces the target (rename) only on commit(); a destructor without commit() removes
// the temp file, so a failed write never leaves a partial output behind.
#pragma once

#include <cstddef>
#include <filesystem>

namespace lowbit::io {

class AtomicFile {
 public:
  explicit AtomicFile(const std::filesystem::path& target);  // throws Error(Io) if not writable
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t bytes);
  void commit();

 private:
  std::filesystem::path target_, tmp_;
  int fd_ = -1;
};

// Throws Error(Io) unless `target`'s folder exists and is writable (checked before long work).
void check_output_writable(const std::filesystem::path& target);

}  // namespace lowbit::io
