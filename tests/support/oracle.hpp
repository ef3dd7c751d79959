// oracle.hpp — independent reference for the number formats, written from the OCP specs and not from
// shaders/common/lowbit_formats.h: decode by the textbook formula, encode by searching the nearest
// representable value (ties to the even code), with the OCP overflow rules.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace lowbit::test {

struct SpecFormat {
  const char* name;
  int ebits, mbits, bias;
  enum Kind { IEEE, FN, FNUZ, FINITE, INT8 } kind;
  double max;  // largest finite value from the spec
};

// id = LB_FMT_* order: E4M3, E5M2, E4M3FNUZ, E5M2FNUZ, E3M2, E2M3, E2M1, INT8, F16, BF16
inline const SpecFormat& spec_format(int id) {
  static const SpecFormat t[] = {
      {"e4m3", 4, 3, 7, SpecFormat::FN, 448.0},
      {"e5m2", 5, 2, 15, SpecFormat::IEEE, 57344.0},
      {"e4m3fnuz", 4, 3, 8, SpecFormat::FNUZ, 240.0},
      {"e5m2fnuz", 5, 2, 16, SpecFormat::FNUZ, 57344.0},
      {"e3m2", 3, 2, 3, SpecFormat::FINITE, 28.0},
      {"e2m3", 2, 3, 1, SpecFormat::FINITE, 7.5},
      {"e2m1", 2, 1, 1, SpecFormat::FINITE, 6.0},
      {"int8", 0, 0, 0, SpecFormat::INT8, 127.0 / 64.0},
      {"f16", 5, 10, 15, SpecFormat::IEEE, 65504.0},
      {"bf16", 8, 7, 127, SpecFormat::IEEE, 3.3895313892515355e38},
  };
  return t[id];
}

inline int spec_bits(const SpecFormat& f) { return f.kind == SpecFormat::INT8 ? 8 : 1 + f.ebits + f.mbits; }

// Value of a code by the spec formula; NaN for NaN codes, ±inf for inf codes.
inline double spec_decode(const SpecFormat& f, uint32_t code) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (f.kind == SpecFormat::INT8) return double(int8_t(uint8_t(code))) / 64.0;
  uint32_t signbit = 1u << (f.ebits + f.mbits);
  bool neg = code & signbit;
  uint32_t e = (code >> f.mbits) & ((1u << f.ebits) - 1), m = code & ((1u << f.mbits) - 1);
  if (f.kind == SpecFormat::FNUZ && code == signbit) return nan;
  if (f.kind == SpecFormat::FN && e == (1u << f.ebits) - 1 && m == (1u << f.mbits) - 1) return nan;
  if (f.kind == SpecFormat::IEEE && e == (1u << f.ebits) - 1)
    return m ? nan : (neg ? -INFINITY : INFINITY);
  double v = e == 0 ? std::ldexp(double(m), 1 - f.bias - f.mbits)
                    : std::ldexp(1.0 + double(m) / double(1u << f.mbits), int(e) - f.bias);
  return neg ? -v : v;
}

// Encodes x (exactly representable in double) by nearest search. `saturate` as in OCP.
class SpecEncoder {
 public:
  explicit SpecEncoder(const SpecFormat& f) : f_(f) {
    // non-negative finite codes in increasing value order (codes of one sign are monotonic)
    uint32_t n = 1u << (spec_bits(f) - 1);
    for (uint32_t c = 0; c < n; ++c) {
      double v = spec_decode(f, c);
      if (std::isfinite(v)) vals_.push_back({v, c});
    }
    std::sort(vals_.begin(), vals_.end(), [](auto& a, auto& b) { return a.v < b.v; });
    // the value one step above max, as an unbounded exponent range would have it
    double top = vals_.back().v, below = vals_[vals_.size() - 2].v;
    over_ = f.kind == SpecFormat::INT8 ? top + 1.0 / 64 : top + (top - below);
    over_code_ = vals_.back().code + 1;  // parity for the tie rule
  }
  // Returns the code, or -1 for "overflow" (caller maps to inf/NaN/max).
  long nearest(double a) const {
    auto it = std::lower_bound(vals_.begin(), vals_.end(), a, [](auto& e, double x) { return e.v < x; });
    if (it == vals_.end()) {
      // above max: compare with the virtual next value
      double top = vals_.back().v;
      if (a >= over_) return -1;
      double dl = a - top, dh = over_ - a;
      if (dl < dh) return vals_.back().code;
      if (dh < dl) return -1;
      return (vals_.back().code % 2 == 0) ? long(vals_.back().code) : -1;
    }
    if (it->v == a) return it->code;
    if (it == vals_.begin()) return it->code;
    auto lo = it - 1;
    double dl = a - lo->v, dh = it->v - a;
    if (dl < dh) return lo->code;
    if (dh < dl) return it->code;
    return (lo->code % 2 == 0) ? lo->code : it->code;
  }
  uint32_t encode(double x, bool saturate) const {
    uint32_t signbit = f_.kind == SpecFormat::INT8 ? 0x80u : 1u << (f_.ebits + f_.mbits);
    uint32_t maxc = vals_.back().code;
    uint32_t inf_code = ((1u << f_.ebits) - 1) << f_.mbits;
    uint32_t quiet_bit = f_.mbits ? 1u << (f_.mbits - 1) : 0u;  // INT8 has no mantissa field (mbits 0)
    uint32_t nan_code = f_.kind == SpecFormat::FNUZ ? 0x80u
                        : f_.kind == SpecFormat::FN ? ((1u << (f_.ebits + f_.mbits)) - 1)
                                                    : (inf_code | quiet_bit);
    bool neg = std::signbit(x);
    uint32_t s = neg ? signbit : 0u;
    if (f_.kind == SpecFormat::INT8) {
      if (std::isnan(x)) return 0;
      double a = std::fabs(x);
      long c = std::isinf(x) ? -1 : nearest(a);
      uint32_t q = c < 0 ? 127u : uint32_t(c);
      return neg ? ((256u - q) & 0xFFu) : q;
    }
    if (std::isnan(x)) return f_.kind == SpecFormat::FINITE ? 0u : (f_.kind == SpecFormat::FNUZ ? nan_code : s | nan_code);
    double a = std::fabs(x);
    long c = std::isinf(x) ? -1 : nearest(a);
    if (c < 0) {
      if (saturate || f_.kind == SpecFormat::FINITE) return s | maxc;
      if (f_.kind == SpecFormat::IEEE) return s | inf_code;
      return f_.kind == SpecFormat::FNUZ ? nan_code : s | nan_code;
    }
    if (c == 0 && f_.kind == SpecFormat::FNUZ) return 0;
    return s | uint32_t(c);
  }

 private:
  struct Entry {
    double v;
    uint32_t code;
  };
  SpecFormat f_;
  std::vector<Entry> vals_;
  double over_;
  uint32_t over_code_;
};

}  // namespace lowbit::test
