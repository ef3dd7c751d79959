// fuzz_checkpoint.cpp — libFuzzer target: any bytes as a checkpoint .safetensors file, read the way
// `lowbit run linear` and `lowbit convert --from` read one: ckpt::load_layer for every layer the file
// names (the `lowbit.layers` JSON metadata and each NAME.qweight tensor, as a lowbit checkpoint or as
// GPTQ / AWQ), and io::dequantize_file on the CPU backend (the `lowbit.format` / `lowbit.packed` /
// `lowbit.tensors` metadata and the parts they imply).
#include <nlohmann/json.hpp>
#include <set>

#include "fuzz/fuzz_files.hpp"
#include "lowbit/checkpoint.hpp"
#include "lowbit/io.hpp"

namespace {

// The layer names the file mentions, at most 8 (a mutated file may name thousands).
std::set<std::string> layer_names(const lowbit::io::SafetensorsFile& f) {
  std::set<std::string> names;
  if (auto it = f.metadata().find("lowbit.layers"); it != f.metadata().end()) {
    nlohmann::json j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    if (j.is_object())
      for (const auto& [name, v] : j.items())
        if (names.size() < 4) names.insert(name);
  }
  for (const auto& t : f.tensors())
    if (t.name.ends_with(".qweight") && names.size() < 8) names.insert(t.name.substr(0, t.name.size() - 8));
  return names;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static lowbit::Context cpu = lowbit::Context::create({.backend = lowbit::Backend::CPU});
  auto path = lowbit::fuzz::write_scratch("model.safetensors", data, size);
  std::set<std::string> layers;
  std::string format = "e4m3";
  try {
    auto f = lowbit::io::SafetensorsFile::open(path);
    layers = layer_names(f);
    if (auto it = f.metadata().find(lowbit::io::kMetaFormat); it != f.metadata().end()) format = it->second;
  } catch (const lowbit::Error&) {
    return 0;  // not a safetensors file: fuzz_safetensors covers that
  }
  for (const auto& name : layers) {
    try {
      lowbit::ckpt::LoadedLayer l = lowbit::ckpt::load_layer(path, name);
      volatile size_t keep = l.w.qweight.size() + l.bias.size() + l.bias_f32.size();
      (void)keep;
    } catch (const lowbit::Error&) {
    }
  }
  try {
    lowbit::io::dequantize_file(cpu, path, lowbit::fuzz::scratch_dir() / "out.safetensors",
                                lowbit::parse_format(format));
  } catch (const lowbit::Error&) {
  }
  return 0;
}
