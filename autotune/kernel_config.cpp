// kernel_config.cpp — KernelConfig's knob table and its text form ("variant=2 wg=256 split=4").
#include <sstream>

#include "lowbit/lowbit.hpp"
#include "lowbit/tuning.hpp"

namespace lowbit {

std::span<const KernelKnob> kernel_knobs() {
  static const KernelKnob knobs[] = {
      {"variant", &KernelConfig::variant}, {"wg", &KernelConfig::wg},         {"cols", &KernelConfig::cols},
      {"split", &KernelConfig::split},     {"bm", &KernelConfig::bm},         {"tile", &KernelConfig::tile},
      {"stages", &KernelConfig::stages},   {"keys", &KernelConfig::keys},     {"rows", &KernelConfig::rows},
      {"elems", &KernelConfig::elems},     {"u", &KernelConfig::u},           {"lanes", &KernelConfig::lanes},
      {"spread", &KernelConfig::spread},
  };
  return knobs;
}

std::string to_string(const KernelConfig& c) {
  std::string s;
  for (const KernelKnob& k : kernel_knobs())
    if (c.*k.member) s += (s.empty() ? "" : " ") + std::string(k.name) + "=" + std::to_string(c.*k.member);
  return s.empty() ? "default" : s;
}

KernelConfig parse_kernel_config(const std::string& s) {
  KernelConfig c;
  if (s == "default") return c;
  std::istringstream in(s);
  std::string item;
  while (in >> item) {
    const size_t eq = item.find('=');
    const std::string name = item.substr(0, eq);
    const KernelKnob* knob = nullptr;
    for (const KernelKnob& k : kernel_knobs())
      if (name == k.name) knob = &k;
    int value = 0;
    size_t used = 0;
    try {
      if (eq != std::string::npos) value = std::stoi(item.substr(eq + 1), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (!knob || eq == std::string::npos || used == 0 || used != item.size() - eq - 1 || value < 0) {
      std::string names;
      for (const KernelKnob& k : kernel_knobs()) names += (names.empty() ? "" : ", ") + std::string(k.name);
      throw Error(ErrorCode::InvalidArgument, "kernel config '" + s + "': bad knob '" + item +
                                                  "' (expected NAME=N with N >= 0 and NAME one of " + names + ")");
    }
    c.*knob->member = value;
  }
  return c;
}

}  // namespace lowbit
