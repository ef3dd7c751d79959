// qoq_validate.cpp — checks a host QoQ layer (lowbit/w4a8.hpp) before it is uploaded or written.
#include <cmath>
#include <string>

#include "lowbit/lowbit.hpp"
#include "lowbit_formats.h"

namespace lowbit {

namespace {
[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, "qoq layer: " + s); }
}  // namespace

void validate_qoq(const QoqHost& w) {
  if (w.n <= 0 || w.k <= 0) bad("N and K must be positive, got N = " + std::to_string(w.n) + ", K = " + std::to_string(w.k));
  if (w.k > kW4A8MaxK) bad("K = " + std::to_string(w.k) + " exceeds " + std::to_string(kW4A8MaxK));
  if (w.group <= 0 || w.k % w.group) bad("group " + std::to_string(w.group) + " does not divide K = " + std::to_string(w.k));
  if (w.per_channel && w.group != w.k) bad("a per-channel layer has group = K");
  size_t cells = size_t(w.groups() * w.n);
  if (w.qweight.size() != size_t(w.k_words() * w.n)) bad("qweight has " + std::to_string(w.qweight.size()) + " words, expected " + std::to_string(w.k_words() * w.n));
  if (w.s1.size() != size_t(w.n)) bad("s1 has " + std::to_string(w.s1.size()) + " entries, expected N = " + std::to_string(w.n));
  if (!w.per_channel && (w.s2.size() != cells || w.zeros.size() != cells))
    bad("s2 / zeros have " + std::to_string(w.s2.size()) + " / " + std::to_string(w.zeros.size()) + " entries, expected " + std::to_string(cells));
  for (int64_t n = 0; n < w.n; ++n) {
    float s = LB_AS_F32(fmt::lb_f16_to_f32(w.s1[size_t(n)]));
    if (!std::isfinite(s)) bad("s1[" + std::to_string(n) + "] is not finite");
  }
  for (int64_t g = 0; g < w.groups(); ++g)
    for (int64_t n = 0; n < w.n; ++n) {
      uint32_t s2 = w.scale2(n, g), z = w.zero(n, g);
      if (s2 < 1 || s2 > 16) bad("s2[" + std::to_string(g) + ", " + std::to_string(n) + "] = " + std::to_string(s2) + " is outside 1..16");
      if (z > 15) bad("zeros[" + std::to_string(g) + ", " + std::to_string(n) + "] = " + std::to_string(z) + " is outside 0..15");
    }
  // Every stored code must reconstruct inside int8's symmetric range (the kernels subtract in 8-bit lanes).
  for (int64_t k = 0; k < w.k; ++k)
    for (int64_t n = 0; n < w.n; ++n) {
      int32_t v = w.w8(n, k);
      if (v < -127 || v > 127)
        bad("code at (n " + std::to_string(n) + ", k " + std::to_string(k) + ") reconstructs to " + std::to_string(v) + ", outside [-127, 127]");
    }
}

}  // namespace lowbit
