// kv_fp8_scales.hpp — the FP8 KV scales (finite, > 0: what a KV cache accepts) that the division-free
// FP8 codes of kv_append (lb_kv_fp8_code) are checked on against the correctly rounded division: every
// class of fp32 scale, and scales that put x / s within a few ulps of an FP8 midpoint (double-rounding ties).
#pragma once

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include "lowbit_formats.h"

namespace lowbit::test {

// Subnormal, smallest normal, tiny, powers of two (exact quotients: exact ties), typical amax / 448 and
// amax / 57344, random significands over the exponents that matter, huge, FLT_MAX.
inline std::vector<float> kv_fp8_scale_classes() {
  std::vector<uint32_t> b = {0x00000001u, 0x00000003u, 0x00400000u, 0x007FFFFFu, 0x00800000u, 0x0DA24260u,
                             0x7F7FFFFFu, 0x7E800000u, 0x7F000000u, 0x7EFFFFFFu};
  for (int e = -24; e <= 40; e += 4) b.push_back(uint32_t(127 + e) << 23);  // 2^e
  for (float s : {65504.0f / 448, 1.0f / 448, 3.0f / 448, 0.02f, 0.5f, 0.01f, 3.0f, 65504.0f / 57344, 1.0f / 57344,
                  0.1f, 1.0f / 3, 7.0f})
    b.push_back(std::bit_cast<uint32_t>(s));
  std::mt19937 rng(11);
  for (int e = -40; e <= 40; e += 5) b.push_back((uint32_t(127 + e) << 23) | (rng() & 0x7FFFFFu));
  std::vector<float> s;
  for (uint32_t x : b) s.push_back(std::bit_cast<float>(x));
  return s;
}

// Scales s with x / s within `ulps` fp32 ulps of the midpoint between FP8 codes c and c + 1 (for a few
// fp16 x each): fl(x / s) then often equals the midpoint although x / s does not.
struct Fp8MidpointCase {
  uint32_t x;  // fp16 bits
  float s;
};
inline std::vector<Fp8MidpointCase> kv_fp8_midpoint_cases(int f, int per_code, int ulps, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Fp8MidpointCase> out;
  const uint32_t kvf = f == LB_FMT_E4M3 ? 3u : 4u;
  for (uint32_t c = 0; c < fmt::lb_fmt_maxcode(f); ++c) {
    const float m = 0.5f * (fmt::lb_kv_code_value(c, 0, kvf) + fmt::lb_kv_code_value(c + 1, 0, kvf));
    for (int i = 0; i < per_code; ++i) {
      const uint32_t xh = 0x0400u + rng() % 0x7800u;  // a normal positive fp16
      const float x = std::bit_cast<float>(fmt::lb_f16_to_f32(xh));
      const float s0 = x / m;
      if (!(s0 >= 1.0e-37f) || s0 >= 3.0e38f) continue;  // normal, neighbours finite
      for (int k = -ulps; k <= ulps; ++k)
        out.push_back({xh, std::bit_cast<float>(std::bit_cast<uint32_t>(s0) + uint32_t(k))});
    }
  }
  return out;
}

}  // namespace lowbit::test
