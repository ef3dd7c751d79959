// w4_checkpoints.hpp — test helper that writes GPTQ (v1/v2) and AWQ tensors from known codes,
// following the published layouts, so imports can be checked against (q - zero) * scale exactly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace lowbit::test {

struct KnownW4 {
  int64_t n, k;
  int group;
  std::vector<uint8_t> q;       // [k, n] codes in ORIGINAL row order
  std::vector<uint8_t> zero;    // [G, n] true zero points (1..16 for GPTQ v1 to reach 16)
  std::vector<uint16_t> scale;  // fp16 bits [G, n]
  std::vector<int32_t> g_idx;   // [k]
  float weight(int64_t n_, int64_t k_, float (*h2f)(uint16_t)) const {
    int64_t g = g_idx[size_t(k_)];
    return (float(q[size_t(k_ * n + n_)]) - float(zero[size_t(g * n + n_)])) * h2f(scale[size_t(g * n + n_)]);
  }
};

inline KnownW4 make_known(int64_t n, int64_t k, int group, bool act_order, uint8_t zmin, uint8_t zmax, uint32_t seed) {
  std::mt19937 rng(seed);
  KnownW4 w{n, k, group, {}, {}, {}, {}};
  int64_t G = k / group;
  w.q.resize(size_t(k * n));
  for (auto& v : w.q) v = uint8_t(rng() % 16);
  w.zero.resize(size_t(G * n));
  for (auto& z : w.zero) z = uint8_t(zmin + rng() % (zmax - zmin + 1));
  w.scale.resize(size_t(G * n));
  for (auto& s : w.scale) s = uint16_t(0x2000 + rng() % 0x1800);  // positive fp16 around 2^-7..2^-1
  w.g_idx.resize(size_t(k));
  std::vector<int32_t> order(static_cast<size_t>(k));
  std::iota(order.begin(), order.end(), 0);
  if (act_order) std::shuffle(order.begin(), order.end(), rng);
  for (int64_t pos = 0; pos < k; ++pos) w.g_idx[size_t(order[size_t(pos)])] = int32_t(pos / group);
  return w;
}

// GPTQ: qweight int32 [K/8, N], nibble i of word (r, n) = row 8r+i; qzeros int32 [G, N/8], nibble i
// of word (g, c) = column 8c+i, storing zero-1 (v1) or zero (v2).
inline void write_gptq(const KnownW4& w, int version, std::vector<int32_t>& qweight, std::vector<int32_t>& qzeros) {
  qweight.assign(size_t(w.k / 8 * w.n), 0);
  for (int64_t k = 0; k < w.k; ++k)
    for (int64_t n = 0; n < w.n; ++n)
      qweight[size_t((k / 8) * w.n + n)] |= int32_t(uint32_t(w.q[size_t(k * w.n + n)]) << (4 * (k % 8)));
  int64_t G = w.k / w.group;
  qzeros.assign(size_t(G * (w.n / 8)), 0);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t n = 0; n < w.n; ++n) {
      uint32_t z = w.zero[size_t(g * w.n + n)] - (version == 1 ? 1 : 0);
      qzeros[size_t(g * (w.n / 8) + n / 8)] |= int32_t((z & 0xF) << (4 * (n % 8)));
    }
}

// AWQ GEMM: qweight int32 [K, N/8], qzeros int32 [G, N/8]; nibble i holds column 8c + order[i],
// order = 0,2,4,6,1,3,5,7.
inline void write_awq(const KnownW4& w, std::vector<int32_t>& qweight, std::vector<int32_t>& qzeros) {
  const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  qweight.assign(size_t(w.k * (w.n / 8)), 0);
  for (int64_t k = 0; k < w.k; ++k)
    for (int64_t c = 0; c < w.n / 8; ++c)
      for (int i = 0; i < 8; ++i)
        qweight[size_t(k * (w.n / 8) + c)] |= int32_t(uint32_t(w.q[size_t(k * w.n + 8 * c + order[i])]) << (4 * i));
  int64_t G = w.k / w.group;
  qzeros.assign(size_t(G * (w.n / 8)), 0);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t c = 0; c < w.n / 8; ++c)
      for (int i = 0; i < 8; ++i)
        qzeros[size_t(g * (w.n / 8) + c)] |= int32_t(uint32_t(w.zero[size_t(g * w.n + 8 * c + order[i])] & 0xF) << (4 * i));
}

}  // namespace lowbit::test
