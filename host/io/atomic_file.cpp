// atomic_file.cpp — temp-file-then-rename output writer (see atomic_file.hpp).
#include "host/io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <random>

#include "host/io/temp_registry.hpp"
#include "lowbit/lowbit.hpp"

namespace fs = std::filesystem;

namespace lowbit::io {

namespace {

fs::path folder_of(const fs::path& p) { return p.has_parent_path() ? p.parent_path() : fs::path("."); }

// A fresh hidden name beside the target: ".NAME.tmpPID.RANDOM".
fs::path temp_name(const fs::path& target) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return folder_of(target) /
         ("." + target.filename().string() + ".tmp" + std::to_string(::getpid()) + "." + std::to_string(rng() % 1000000007));
}

// Makes a rename in `dir` durable. Filesystems that cannot sync a folder (EINVAL) are not an error.
int sync_folder(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = ::fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

AtomicFile::AtomicFile(const fs::path& target, Temp prefer) : target_(target) {
  if (prefer == Temp::Unnamed && ::access("/proc/self/fd", X_OK) == 0) {  // linkat needs /proc/self/fd
    fd_ = ::open(folder_of(target).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (fd_ >= 0) {
      unnamed_ = true;
      return;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) fail(errno);
  }
  create_named([this](const fs::path& tmp) {
    fd_ = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    return fd_ >= 0 ? 0 : errno;
  });
}

void AtomicFile::create_named(const std::function<int(const fs::path&)>& create) {
  for (int attempt = 0; tmp_.empty(); ++attempt) {
    tmp_ = temp_name(target_);
    slot_ = detail::register_temp_file(tmp_);  // before the file exists: no window without cleanup
    int err = create(tmp_);
    if (err == 0) return;
    detail::unregister_temp_file(slot_);
    slot_ = -1;
    tmp_.clear();
    if (err != EEXIST || attempt > 8) fail(err);
  }
}

void AtomicFile::discard_named() {
  if (tmp_.empty()) return;
  ::unlink(tmp_.c_str());
  detail::unregister_temp_file(slot_);
  slot_ = -1;
  tmp_.clear();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  discard_named();
}

void AtomicFile::fail(int err) const {
  throw Error(ErrorCode::Io, "cannot write '" + target_.string() + "': " + std::strerror(err));
}

void AtomicFile::write(const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(n < 0 ? errno : ENOSPC);
    p += n;
    bytes -= size_t(n);
  }
}

void AtomicFile::write_at(uint64_t offset, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::pwrite(fd_, p, bytes, off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(n < 0 ? errno : ENOSPC);
    p += n;
    offset += uint64_t(n);
    bytes -= size_t(n);
  }
}

void AtomicFile::commit() {
  if (fd_ < 0) fail(EBADF);
  if (::fsync(fd_) != 0) fail(errno);  // the data is on disk before the name points at it
  if (unnamed_) {  // give the file a temp name first: linkat cannot replace an existing target
    std::string self = "/proc/self/fd/" + std::to_string(fd_);
    create_named([&self](const fs::path& tmp) {
      return ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
    });
  }
  if (::rename(tmp_.c_str(), target_.c_str()) != 0) fail(errno);  // the destructor removes tmp_
  detail::unregister_temp_file(slot_);
  slot_ = -1;
  tmp_.clear();
  int fd = fd_;
  fd_ = -1;
  int err = ::close(fd) == 0 ? 0 : errno;
  if (!err) err = sync_folder(folder_of(target_));
  if (err) fail(err);
}

}  // namespace lowbit::io
