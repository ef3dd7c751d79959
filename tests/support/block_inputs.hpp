// block_inputs.hpp — fp32 inputs for the block-scaled conversion tests, built block by block so that
// every 32-element block (two NVFP4 blocks of 16) is worth testing: its own magnitude 2^e, values
// spread over the binades below it, exact grid points and ties of the element formats with their
// neighbours one ulp away, and amax values on scale boundaries. Specials (NaN, ±inf, ±0, ±FLT_MAX,
// the smallest subnormals) live in blocks of their own, so they never decide an ordinary block's scale.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace lowbit::test {

inline constexpr int kInputBlock = 32;

// One block of 32 values around 2^e (e from -149, all subnormal, to 127), structured by `kind`:
// 0 spread: ±(1 + r)·2^(e - j), j = 0..7, r uniform — values across the block's range, some of
//   which the element format flushes; 1 grid: ±i·2^(e - 6), i = 0..127 — exact points and midpoints of
//   every element grid with up to 5 fraction bits (ties); 2 boundaries: the same points one ulp up or
//   down; 3 scale edges: 2^e, the largest float below 2^(e+1), 1.5·2^e and 1.75·2^e as amax, the rest
//   ties. The first element is at least 2^e and every element below 2^(e+1), so the block's amax has
//   exponent e (up to rounding in the subnormal range).
inline void fill_block(float* b, int e, int kind, std::mt19937& rng) {
  std::uniform_int_distribution<int> grid(0, 127), sign(0, 1), below(0, 7);
  std::uniform_real_distribution<float> frac(0.0f, 1.0f);
  auto at = [&](double v) { return float(std::ldexp(v, e)); };
  for (int i = 0; i < kInputBlock; ++i) {
    float x = at(kind == 0 ? std::ldexp(1.0 + frac(rng), -below(rng)) : std::ldexp(double(grid(rng)), -6));
    if (kind == 2) x = std::nextafter(x, sign(rng) ? 0.0f : INFINITY);
    b[i] = sign(rng) ? -x : x;
  }
  const double edges[] = {1.0, 2.0 - std::ldexp(1.0, -23), 1.5, 1.75};
  float amax = kind == 3 ? at(edges[rng() % 4]) : at(1.0 + frac(rng) * 0.9921875);
  if (std::isinf(amax)) amax = std::numeric_limits<float>::max();
  b[0] = sign(rng) ? -amax : amax;
}

// `blocks` blocks with exponents uniform in [e_lo, e_hi], the four kinds in turn.
inline std::vector<float> structured_blocks(size_t blocks, int e_lo, int e_hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> ex(e_lo, e_hi);
  std::vector<float> v(blocks * kInputBlock);
  for (size_t i = 0; i < blocks; ++i) fill_block(&v[i * kInputBlock], ex(rng), int(i % 4), rng);
  return v;
}

// Blocks of specials, one pattern per block in turn: all +0, all -0, ±0 mixed, ordinary values with a
// NaN (several payloads), with +inf, with -inf, ±FLT_MAX among values near 2^127, ±FLT_MAX alone, the
// smallest subnormals alone.
inline std::vector<float> special_blocks(size_t blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  const float fmax = std::numeric_limits<float>::max(), tiny = std::numeric_limits<float>::denorm_min();
  const uint32_t nans[] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFFFFFFFFu};
  std::vector<float> v(blocks * kInputBlock);
  for (size_t i = 0; i < blocks; ++i) {
    float* b = &v[i * kInputBlock];
    int kind = int(i % 9);
    fill_block(b, kind == 6 ? 126 : int(rng() % 60) - 30, int(i % 4), rng);
    size_t at = rng() % kInputBlock;
    for (int j = 0; j < kInputBlock; ++j) {
      switch (kind) {
        case 0: b[j] = 0.0f; break;
        case 1: b[j] = -0.0f; break;
        case 2: b[j] = (rng() & 1) ? 0.0f : -0.0f; break;
        case 7: b[j] = (rng() & 1) ? fmax : -fmax; break;
        case 8: b[j] = (rng() & 1) ? tiny : -tiny; break;
        default: break;
      }
    }
    if (kind == 3) b[at] = std::bit_cast<float>(nans[(i / 9) % 4]);
    if (kind == 4) b[at] = INFINITY;
    if (kind == 5) b[at] = -INFINITY;
    if (kind == 6) b[at] = (rng() & 1) ? fmax : -fmax;
  }
  return v;
}

}  // namespace lowbit::test
