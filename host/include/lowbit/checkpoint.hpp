// checkpoint.hpp — int4 checkpoints: pack GPTQ / AWQ / float checkpoints into a lowbit checkpoint, and
// load one linear layer from a lowbit checkpoint or (packed on the fly) from a GPTQ / AWQ one.
//
// A lowbit checkpoint is a .safetensors file. For every packed layer NAME (same names as the input):
//   NAME.qweight  U32 [ceil(K/8), N]   lowbit/w4.hpp layout version 1
//   NAME.scales   F16 [K/group, N]
//   NAME.qzeros   U8  [K/group, N]     asymmetric layers only
//   NAME.perm     I32 [K]              act_order layers only
//   NAME.bias     copied from the input when present
// Every other input tensor (norms, embeddings, 1-D tensors) is copied unchanged, so a packed model
// stays whole. Metadata: lowbit.scheme = "w4a16", lowbit.layout = "1", lowbit.source = gptq | gptq_v2
// | awq | rtn, lowbit.group_size, lowbit.sym, and lowbit.layers = JSON {NAME: {n, k, group, sym,
// act_order}}.
//
// A QoQ (W4A8) checkpoint (`pack --scheme qoq`, lowbit/w4a8.hpp layout version 1), per layer NAME:
//   NAME.qweight  U32 [ceil(K/8), N]   QoQ nibble order (qoq_nibble)
//   NAME.s1       F16 [N]              level-1 scale per output channel
//   NAME.s2       U8  [K/group, N]     level-2 scale (1..16)   } not stored for per-channel layers
//   NAME.qzeros   U8  [K/group, N]     level-2 zero (0..15)    }
// Metadata: lowbit.scheme = "qoq", lowbit.layout = "1", lowbit.source = "qoq", lowbit.group_size
// (-1 per channel), lowbit.layers = JSON {NAME: {n, k, group, per_channel}} (group = k per channel).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lowbit/progress.hpp"
#include "lowbit/w4.hpp"
#include "lowbit/w4a8.hpp"

namespace lowbit::ckpt {

struct PackOptions {
  std::string scheme = "rtn";  // gptq | awq | rtn | qoq
  std::optional<int> group;    // default: the checkpoint's config, else 128 (-1 = per channel)
  std::optional<bool> sym;     // default: the checkpoint's config, else symmetric for rtn (not for qoq)
  std::string layers_regex;    // rtn, qoq: which NAME.weight tensors to quantize (default: every 2-D one)
  ProgressFn progress;         // after each output tensor is written (streamed: one layer in memory at a time)
};

struct PackReport {
  std::string source;                 // gptq | gptq_v2 | awq | rtn | qoq
  QoqReport qoq;                      // qoq: level-1 clamps and s1 overflows over all layers
  std::vector<std::string> layers;    // packed layer names
  std::vector<std::string> copied;    // tensors copied unchanged
};

// INPUT: a .safetensors file or a model directory (single file, or shards with
// model.safetensors.index.json). Settings come from quantize_config.json or config.json's
// quantization_config beside the input, else from the options. Throws lowbit::Error naming the tensor.
// The output location is checked first (io::check_output_path): an output that is one of the files the
// input is read from (a shard, the index, a config) is refused.
PackReport pack_checkpoint(const std::filesystem::path& input, const std::filesystem::path& output,
                           const PackOptions& o);

struct LoadedLayer {
  W4Host w;                    // a W4A16 layer (empty when qoq is set)
  std::optional<QoqHost> qoq;  // a QoQ (W4A8) layer
  int64_t n() const { return qoq ? qoq->n : w.n; }
  int64_t k() const { return qoq ? qoq->k : w.k; }
  std::vector<uint16_t> bias;  // fp16 bits [n], or empty
  std::vector<float> bias_f32;  // [n] when the checkpoint stores the bias as F32 (else empty)
  std::string source;
};
// Loads layer NAME from a lowbit checkpoint, or from a GPTQ/AWQ file/directory (scheme from its config
// or `scheme_hint`). Throws Error(NotFound) listing some available layers when NAME is absent.
LoadedLayer load_layer(const std::filesystem::path& checkpoint, const std::string& name,
                       const std::string& scheme_hint = "");

}  // namespace lowbit::ckpt
