// checkpoint_meta.hpp — the settings a checkpoint carries beside its tensors, read without trusting
// them: the quantization config json beside a GPTQ / AWQ model, and a lowbit checkpoint's per-layer
// `lowbit.layers` metadata. Invalid JSON, duplicate keys, wrong types, missing keys and out-of-range
// values are Error(Io) naming the file and the key, never a JSON library exception.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "lowbit/io.hpp"

namespace lowbit::ckpt {

// Quantization settings found beside a model: quantize_config.json, else config.json's
// quantization_config. Absent files, absent keys and JSON null leave a setting unset.
struct QuantConfig {
  std::string method;  // gptq | awq | "" (unknown)
  std::optional<int> group;
  std::optional<bool> sym;
  bool v2 = false;  // checkpoint_format gptq_v2
};
// Throws InvalidArgument when the config says bits other than 4.
QuantConfig read_quant_config(const std::filesystem::path& dir);

// One layer's entry of `lowbit.layers`: {"n", "k", "group", "sym"} required, "act_order" optional.
// n and k are in [1, 2^31 - 1]; group is in [1, k] and divides k.
struct LayerMeta {
  int64_t n = 0, k = 0;
  int group = 0;
  bool sym = true;
  std::optional<bool> act_order;
};
LayerMeta read_layer_meta(const io::SafetensorsFile& file, const std::string& layer);
// A QoQ (W4A8) checkpoint's entry: {"n", "k", "group", "per_channel"} required (group == k when per_channel).
struct QoqLayerMeta {
  int64_t n = 0, k = 0;
  int group = 0;
  bool per_channel = false;
};
QoqLayerMeta read_qoq_layer_meta(const io::SafetensorsFile& file, const std::string& layer);

// The name lowbit.layers problems are reported under: "<file>: metadata 'lowbit.layers'".
std::string layer_meta_where(const io::SafetensorsFile& file);

}  // namespace lowbit::ckpt
