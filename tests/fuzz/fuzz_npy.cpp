// fuzz_npy.cpp — libFuzzer target: any bytes as a .npy file through io::NpyFile::open.
#include "fuzz/fuzz_files.hpp"
#include "lowbit/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = lowbit::fuzz::write_scratch("input.npy", data, size);
  try {
    lowbit::io::NpyFile f = lowbit::io::NpyFile::open(path);
    volatile uint64_t sum = lowbit::fuzz::touch_all(f.bytes());
    (void)sum;
  } catch (const lowbit::Error&) {
  }
  return 0;
}
