// fuzz_safetensors.cpp — libFuzzer target: any bytes as a .safetensors file through
// io::SafetensorsFile::open (header length, header JSON, dtypes, shapes, offsets, layout, metadata);
// every tensor span it hands out is read to the last byte.
#include "fuzz/fuzz_files.hpp"
#include "lowbit/io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = lowbit::fuzz::write_scratch("input.safetensors", data, size);
  try {
    lowbit::io::SafetensorsFile f = lowbit::io::SafetensorsFile::open(path);
    uint64_t sum = 0;
    for (const auto& t : f.tensors()) sum += lowbit::fuzz::touch_all(f.bytes(f.at(t.name)));
    for (const auto& [k, v] : f.metadata()) sum += k.size() + v.size();
    volatile uint64_t keep = sum;
    (void)keep;
  } catch (const lowbit::Error&) {
  }
  return 0;
}
