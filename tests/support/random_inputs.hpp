// random_inputs.hpp — seeded random test inputs shared by the robustness suites: fp16 values and int4
// layers made straight from random codes (no RTN pass, so large layers are cheap to make).
#pragma once

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include "lowbit/w4.hpp"
#include "lowbit_formats.h"

namespace lowbit::test {

inline std::vector<uint16_t> random_f16_normal(size_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, sd);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(nd(rng))));
  return v;
}

// A symmetric layer of random codes, scales ~2^-8 .. 2^-7 (asymmetric: random zeros too).
inline W4Host random_w4_layer(int64_t n, int64_t k, int group, uint32_t seed, bool sym = true) {
  std::mt19937 rng(seed);
  W4Host h;
  h.n = n, h.k = k, h.group = group, h.sym = sym;
  h.qweight.resize(size_t(h.k_words() * n));
  for (auto& w : h.qweight) w = rng();
  h.scales.resize(size_t(h.groups() * n));
  for (auto& s : h.scales) s = uint16_t(0x1C00 + rng() % 0x400);
  if (!sym) {
    h.zeros.resize(size_t(h.groups() * n));
    for (auto& z : h.zeros) z = uint8_t(rng() % 16);
  }
  return h;
}

}  // namespace lowbit::test
