// fuzz_model_config.cpp — libFuzzer target: the JSON files beside a GPTQ / AWQ model. The first input
// byte picks the file (quantize_config.json, config.json or model.safetensors.index.json), the rest is its
// text; the model folder also holds one small valid GPTQ shard. Reads it the way `lowbit pack` / `run
// linear` do: ckpt::read_quant_config, ckpt::ModelFiles (index weight_map, shard checks) and
// ckpt::load_layer of the shard's layer.
#include <filesystem>

#include "fuzz/fuzz_files.hpp"
#include "host/quant/checkpoint_meta.hpp"
#include "host/quant/model_files.hpp"
#include "lowbit/checkpoint.hpp"
#include "lowbit/io.hpp"

namespace fs = std::filesystem;

namespace {

constexpr const char* kJsonFiles[] = {"quantize_config.json", "config.json", "model.safetensors.index.json"};

// A GPTQ layer "layer" with K = 32, N = 8, group 32 (layout of tests/support/w4_checkpoints.hpp).
const fs::path& model_dir() {
  static const fs::path dir = [] {
    fs::path d = lowbit::fuzz::scratch_dir() / "model";
    fs::create_directories(d);
    static std::vector<int32_t> qweight(4 * 8, 0x76543210), qzeros(1, 0x77777777), g_idx(32, 0);
    static std::vector<uint16_t> scales(8, 0x3c00);  // fp16 1.0
    auto bytes = [](const auto& v) {
      return lowbit::io::Bytes(reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(v[0]));
    };
    lowbit::io::SafetensorsWriter w;
    w.add("layer.qweight", lowbit::DType::I32, {4, 8}, bytes(qweight));
    w.add("layer.qzeros", lowbit::DType::I32, {1, 1}, bytes(qzeros));
    w.add("layer.scales", lowbit::DType::F16, {1, 8}, bytes(scales));
    w.add("layer.g_idx", lowbit::DType::I32, {32}, bytes(g_idx));
    w.write(d / "model-00001-of-00001.safetensors");
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const fs::path& dir = model_dir();
  for (const char* name : kJsonFiles) fs::remove(dir / name);
  std::ofstream(dir / kJsonFiles[data[0] % 3], std::ios::binary)
      .write(reinterpret_cast<const char*>(data + 1), std::streamsize(size - 1));
  try {
    lowbit::ckpt::QuantConfig c = lowbit::ckpt::read_quant_config(dir);
    volatile size_t keep = c.method.size();
    (void)keep;
  } catch (const lowbit::Error&) {
  }
  try {
    lowbit::ckpt::ModelFiles m(dir);
    volatile size_t keep = m.tensors().size() + m.paths().size();
    (void)keep;
  } catch (const lowbit::Error&) {
  }
  try {
    lowbit::ckpt::LoadedLayer l = lowbit::ckpt::load_layer(dir, "layer");
    volatile size_t keep = l.w.qweight.size();
    (void)keep;
  } catch (const lowbit::Error&) {
  }
  return 0;
}
