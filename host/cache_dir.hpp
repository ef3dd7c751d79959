// cache_dir.hpp — where lowbit keeps on-disk caches (pipeline cache, program binaries, tuning db):
// explicit option > $LOWBIT_CACHE_DIR > $XDG_CACHE_HOME/lowbit > ~/.cache/lowbit. Plus an atomic
// file write (temp file + rename) used for every cache and output file.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lowbit {

std::filesystem::path cache_dir(const std::string& override_dir);  // created if missing
// Writes bytes to path atomically (temp file in the same folder, then rename); throws Error(Io).
void write_file_atomic(const std::filesystem::path& path, const void* data, size_t bytes);
// Reads a whole regular file; returns false if it does not exist, is not a regular file or cannot be read.
bool read_file(const std::filesystem::path& path, std::vector<unsigned char>& out);
// FNV-1a 64-bit hash, hex string: keys for cache entries.
std::string hash_hex(const std::string& data);

}  // namespace lowbit
