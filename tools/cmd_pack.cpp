// cmd_pack.cpp — `lowbit pack --scheme gptq|awq|rtn|qoq [--group G] [--sym|--asym] [--layers REGEX]
// INPUT OUTPUT.safetensors`: GPTQ / AWQ / float checkpoints into a lowbit int4 (W4A16) or QoQ (W4A8) checkpoint.
#include <cstdio>

#include "lowbit/checkpoint.hpp"
#include "tools/cli.hpp"
#include "tools/progress_bar.hpp"

namespace lowbit::cli {

Command add_pack_command(CLI::App& root) {
  auto* cmd = root.add_subcommand("pack", "Pack a GPTQ / AWQ / float checkpoint into lowbit's int4 layout");
  struct Args {
    std::string scheme, layers, input, output;
    int group = 0;
    bool sym = false, asym = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--scheme", a->scheme, "gptq | awq | rtn | qoq (W4A8) (default: from the checkpoint's config, else rtn)")
      ->check(CLI::IsMember({"gptq", "awq", "rtn", "qoq"}));
  cmd->add_option("--group", a->group, "group size along K: 32, 64, 128 or -1 (per output channel)");
  auto* s = cmd->add_flag("--sym", a->sym, "symmetric (zero point 8)");
  cmd->add_flag("--asym", a->asym, "asymmetric (4-bit zero point per group)")->excludes(s);
  cmd->add_option("--layers", a->layers, "rtn, qoq: regex over layer names (X of X.weight) to quantize");
  cmd->add_option("INPUT", a->input, "a .safetensors file or a model directory (shards + index json)")->required();
  cmd->add_option("OUTPUT", a->output, "the lowbit checkpoint to write (.safetensors)")->required();
  return {cmd, [a] {
            check_output(a->output, "OUTPUT", ".safetensors");  // pack_checkpoint also checks it against its inputs
            ckpt::PackOptions o;
            o.scheme = a->scheme;
            if (a->group != 0) o.group = a->group;
            if (a->sym) o.sym = true;
            if (a->asym) o.sym = false;
            o.layers_regex = a->layers;
            o.progress = make_progress_bar("pack", "tensors");
            auto rep = ckpt::pack_checkpoint(a->input, a->output, o);
            std::printf("packed %zu layer(s) (%s), copied %zu tensor(s) -> %s\n", rep.layers.size(), rep.source.c_str(),
                        rep.copied.size(), a->output.c_str());
            if (rep.source == "qoq")
              std::printf("qoq: %lld weight(s) clamped to the level-1 range [-119, 119], %lld channel(s) with s1 past fp16 "
                          "(clamped to 65504)\n",
                          (long long)rep.qoq.level1_clamped, (long long)rep.qoq.s1_overflow);
            return 0;
          },
          /*prints_report=*/true};
}

}  // namespace lowbit::cli
