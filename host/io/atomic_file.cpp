// atomic_file.cpp — temp-file-then-rename output writer (see atomic_file.hpp).
#include "host/io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "lowbit/lowbit.hpp"

namespace fs = std::filesystem;

namespace lowbit::io {

static fs::path folder_of(const fs::path& p) { return p.has_parent_path() ? p.parent_path() : fs::path("."); }

void check_output_writable(const fs::path& target) {
  fs::path dir = folder_of(target);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorCode::Io, "cannot write '" + target.string() + "': folder '" + dir.string() + "' does not exist");
  if (fs::is_directory(target, ec))
    throw Error(ErrorCode::Io, "cannot write '" + target.string() + "': it is a directory");
  if (::access(dir.c_str(), W_OK) != 0)
    throw Error(ErrorCode::Io, "cannot write '" + target.string() + "': folder '" + dir.string() + "' is not writable");
}

AtomicFile::AtomicFile(const fs::path& target) : target_(target) {
  std::random_device rd;
  std::string name = ".";
  name += target.filename().string();
  name += ".tmp" + std::to_string(::getpid()) + "." + std::to_string(rd());
  tmp_ = folder_of(target) / name;
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) throw Error(ErrorCode::Io, "cannot write '" + target.string() + "': " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(ErrorCode::Io, "cannot write '" + target_.string() + "': " + std::strerror(errno));
    p += n;
    bytes -= size_t(n);
  }
}

void AtomicFile::commit() {
  int fd = fd_;
  fd_ = -1;
  bool ok = ::close(fd) == 0;
  int err = errno;
  if (ok && ::rename(tmp_.c_str(), target_.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp_.c_str());
    throw Error(ErrorCode::Io, "cannot write '" + target_.string() + "': " + std::strerror(err));
  }
}

}  // namespace lowbit::io
