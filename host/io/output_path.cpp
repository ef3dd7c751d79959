// output_path.cpp — io::check_output_path: the checks an output location must pass before a command
// does any work (folder exists and is writable, not a directory, not one of the command's inputs).
#include <sys/stat.h>
#include <unistd.h>

#include "lowbit/io.hpp"

namespace fs = std::filesystem;

namespace lowbit::io {

namespace {

// Whether writing `output` would replace `input`: the same file by device and inode, which follows
// symlinks and sees hard links and other spellings of the path. An output that does not exist yet
// cannot be any existing input.
bool is_same_file(const fs::path& output, const fs::path& input) {
  struct stat out {}, in {};
  if (::stat(output.c_str(), &out) != 0 || ::stat(input.c_str(), &in) != 0) return false;
  return out.st_dev == in.st_dev && out.st_ino == in.st_ino;
}

}  // namespace

void check_output_path(const fs::path& output, const std::vector<fs::path>& inputs) {
  fs::path dir = output.has_parent_path() ? output.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorCode::Io, "cannot write '" + output.string() + "': folder '" + dir.string() + "' does not exist");
  if (fs::is_directory(output, ec))
    throw Error(ErrorCode::Io, "cannot write '" + output.string() + "': it is a directory");
  if (::access(dir.c_str(), W_OK) != 0)
    throw Error(ErrorCode::Io, "cannot write '" + output.string() + "': folder '" + dir.string() + "' is not writable");
  for (const fs::path& in : inputs)
    if (is_same_file(output, in))
      throw Error(ErrorCode::InvalidArgument, "output '" + output.string() + "' would overwrite the input '" +
                                                  in.string() + "': write to another file");
}

}  // namespace lowbit::io
