// fuzz_cl_program_cache.cpp — libFuzzer target: any bytes as an OpenCL program-binary cache file
// (<cache_dir>/opencl-<hash>.bin) through cl::parse_program_cache_entry, the check ProgramCache runs
// before a binary may reach the driver: magic, payload size and payload hash.
#include <span>

#include "backend/opencl/program_cache.hpp"
#include "fuzz/fuzz_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto entry = lowbit::detail::cl::parse_program_cache_entry(std::span<const unsigned char>(data, size));
    // An accepted entry's binary lies inside the input and covers what the header says.
    if (entry.problem.empty() && (entry.binary.data() < data || entry.binary.data() + entry.binary.size() > data + size))
      __builtin_trap();
    volatile uint64_t keep = lowbit::fuzz::touch_all(entry.binary) + entry.problem.size();
    (void)keep;
  } catch (const lowbit::Error&) {
  }
  return 0;
}
