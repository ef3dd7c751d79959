// fuzz_files.hpp — what the libFuzzer targets share: a private folder per fuzzing process (under
// /dev/shm when it exists, so the file round trip stays in memory) where an input's bytes become the
// file a parser opens through its ordinary path-taking entry point, and the rule of every target: a
// parser may reject bad input only with lowbit::Error; any other exception escapes and is a crash.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace lowbit::fuzz {

// This process's scratch folder, created on first use and emptied at exit.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    std::filesystem::path d = base / ("lowbit-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    static struct Cleanup {
      std::filesystem::path d;
      ~Cleanup() {
        std::error_code ec;
        std::filesystem::remove_all(d, ec);
      }
    } cleanup{d};
    return d;
  }();
  return dir;
}

// Writes `size` bytes to scratch_dir()/name (replacing it) and returns the path.
inline std::filesystem::path write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  std::filesystem::path p = scratch_dir() / name;
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return p;
}

// Reads every byte of a span the parser handed out, so that a span past its mapping is caught by ASan
// (or faults) here rather than later; returns a value the optimiser cannot drop.
template <class Span>
inline uint64_t touch_all(const Span& bytes) {
  uint64_t sum = 0;
  for (auto b : bytes) sum += uint8_t(b);
  return sum;
}

}  // namespace lowbit::fuzz
