// attention_harness.hpp — test helpers for the paged KV cache and attention (header-only):
//  * Case: one attention configuration (format, D, heads, page size, ragged lengths, options);
//  * make_inputs / run_case: random fp16 Q/K/V, a cache with scattered pages filled in two kv_append
//    rounds, attention, and the raw cache bytes read back;
//  * independent decoding of the cache bytes and the pinned quantization (lowbit/attention.hpp);
//  * attention_fp64: plain softmax(scale·QKᵀ)V in double over given K/V, with a per-row tolerance
//    derived from fp32 accumulation (see tolerance_fp32).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "host/internal_access.hpp"
#include "lowbit_formats.h"

namespace lowbit::test::attn {

inline float h2f(uint16_t h) { return std::bit_cast<float>(fmt::lb_f16_to_f32(h)); }
inline uint16_t f2h(float f) { return uint16_t(fmt::lb_f32_to_f16(std::bit_cast<uint32_t>(f))); }
inline constexpr double kU = 0x1p-24;  // fp32 unit roundoff

struct Case {
  KvFormat fmt = KvFormat::F16;
  int D = 64, hkv = 2, hq = 2, P = 16;
  std::vector<int> kv = {1, 15, 16, 17, 1000};  // keys per sequence (ragged)
  std::vector<int> sq = {};                     // queries per sequence; empty = decode (all 1)
  AttentionOptions opt = {};
  bool fp8_per_head = true;
  float k_mean = 0.5f;  // keys off-centre so the int zero point matters

  std::vector<int> queries() const { return sq.empty() ? std::vector<int>(kv.size(), 1) : sq; }
  std::string name() const {
    std::string s = std::string(to_string(fmt)) + " D" + std::to_string(D) + " Hq" + std::to_string(hq) + "/Hkv" +
                    std::to_string(hkv) + " P" + std::to_string(P) + (sq.empty() ? " decode" : " prefill");
    if (opt.causal) s += " causal";
    if (opt.window) s += " window" + std::to_string(opt.window);
    if (opt.softcap > 0) s += " softcap" + std::to_string(int(opt.softcap));
    if (opt.scale) s += " scale" + std::to_string(*opt.scale);
    if (!opt.out_f32) s += " out16";
    if (opt.split_pages) s += " split" + std::to_string(opt.split_pages);
    return s;
  }
  std::vector<float> fp8_scales(bool v) const {
    if (!fp8_per_head) return {v ? 0.02f : 0.0175f};
    std::vector<float> s;
    for (int h = 0; h < hkv; ++h) s.push_back((v ? 0.01f : 0.0125f) * float(h + 1));
    return s;
  }
};

struct Inputs {
  std::vector<uint16_t> k, v, q;  // fp16: k/v [sum kv, Hkv, D] (sequence-major), q [sum sq, Hq, D]
};

inline std::vector<uint16_t> normal_f16(size_t n, std::mt19937& rng, float mean) {
  std::normal_distribution<float> nd(mean, 1.0f);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = f2h(nd(rng));
  return v;
}

inline Inputs make_inputs(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  size_t nk = 0, nq = 0;
  for (int x : c.kv) nk += size_t(x);
  for (int x : c.queries()) nq += size_t(x);
  Inputs in;
  in.k = normal_f16(nk * size_t(c.hkv * c.D), rng, c.k_mean);
  in.v = normal_f16(nk * size_t(c.hkv * c.D), rng, 0.0f);
  in.q = normal_f16(nq * size_t(c.hq * c.D), rng, 0.0f);
  return in;
}

// The cache layer's bytes as downloaded, plus each sequence's pages.
struct CacheBytes {
  std::vector<uint8_t> k, v;
  std::vector<uint16_t> ks, kz, vs, vz;  // int formats
  std::vector<float> k8, v8;             // fp8 scales
  std::vector<std::vector<int32_t>> pages;
};

struct Result {
  std::vector<float> out;  // [sum sq, Hq, D]
  CacheBytes bytes;
  std::string kernel;      // Context::last_attention_kernel() of the attention call
};

inline KvCacheOptions cache_options(const Case& c, int spare_pages) {
  KvCacheOptions o;
  o.page_size = c.P;
  o.kv_heads = c.hkv;
  o.head_dim = c.D;
  o.format = c.fmt;
  o.num_pages = spare_pages;
  for (int x : c.kv) o.num_pages += (x + c.P - 1) / c.P;
  o.k_scale = c.fp8_scales(false);
  o.v_scale = c.fp8_scales(true);
  return o;
}

// Rows [first, first + n) of each sequence's block of a sequence-major [tokens, H, D] array.
inline std::vector<uint16_t> slice_rows(const std::vector<uint16_t>& x, const std::vector<int>& lens,
                                        const std::vector<int>& first, const std::vector<int>& n, size_t row) {
  std::vector<uint16_t> out;
  size_t base = 0;
  for (size_t i = 0; i < lens.size(); ++i) {
    out.insert(out.end(), x.begin() + long((base + size_t(first[i])) * row),
               x.begin() + long((base + size_t(first[i] + n[i])) * row));
    base += size_t(lens[i]);
  }
  return out;
}

inline CacheBytes read_cache(Context& ctx, KvCache& cache, const std::vector<int>& seqs) {
  CacheBytes b;
  const auto& l = detail::kv_state(cache).layers[0];
  b.k = ctx.download<uint8_t>(l.k);
  b.v = ctx.download<uint8_t>(l.v);
  auto fmt = cache.options().format;
  if (fmt == KvFormat::Int8 || fmt == KvFormat::Int4) {
    b.ks = ctx.download<uint16_t>(l.k_scale), b.kz = ctx.download<uint16_t>(l.k_zero);
    b.vs = ctx.download<uint16_t>(l.v_scale), b.vz = ctx.download<uint16_t>(l.v_zero);
  } else if (fmt == KvFormat::E4M3 || fmt == KvFormat::E5M2) {
    b.k8 = ctx.download<float>(l.k_scale), b.v8 = ctx.download<float>(l.v_scale);
  }
  for (int s : seqs) b.pages.push_back(cache.pages(s));
  return b;
}

// Fills a fresh cache with the case's K/V (pages scattered with `scatter_seed`; two kv_append rounds:
// the first 2/3 of every sequence, then the rest), runs attention and reads everything back.
inline Result run_case(Context& ctx, const Case& c, const Inputs& in, uint32_t scatter_seed = 7) {
  KvCache cache = ctx.create_kv_cache(cache_options(c, 5));
  cache.scatter_free_pages(scatter_seed);
  std::vector<int> seqs, first(c.kv.size(), 0), n1, n2;
  for (size_t i = 0; i < c.kv.size(); ++i) {
    seqs.push_back(cache.add_sequence());
    n2.push_back(c.kv[i] / 3);
    n1.push_back(c.kv[i] - n2.back());
  }
  const size_t row = size_t(c.hkv * c.D);
  for (int round = 0; round < 2; ++round) {
    const auto& n = round == 0 ? n1 : n2;
    int64_t total = 0;
    for (int x : n) total += x;
    cache.extend(seqs, n);
    auto k = slice_rows(in.k, c.kv, first, n, row), v = slice_rows(in.v, c.kv, first, n, row);
    Buffer kb = ctx.upload(DType::F16, {total, c.hkv, c.D}, k.data(), k.size() * 2);
    Buffer vb = ctx.upload(DType::F16, {total, c.hkv, c.D}, v.data(), v.size() * 2);
    ctx.kv_append(cache, 0, seqs, n, kb, vb);
    for (size_t i = 0; i < first.size(); ++i) first[i] += n[i];
  }
  auto qs = c.queries();
  int64_t nq = 0;
  for (int x : qs) nq += x;
  Buffer qb = ctx.upload(DType::F16, {nq, c.hq, c.D}, in.q.data(), in.q.size() * 2);
  Buffer ob = ctx.attention(qb, cache, 0, seqs, qs, c.opt);
  Result r;
  r.kernel = ctx.last_attention_kernel();
  if (ob.dtype() == DType::F32) {
    r.out = ctx.download<float>(ob);
  } else {
    auto h = ctx.download<uint16_t>(ob);
    for (uint16_t x : h) r.out.push_back(h2f(x));
  }
  r.bytes = read_cache(ctx, cache, seqs);
  return r;
}

// ---- the pinned quantization, written out independently of the CPU backend ----------------------
inline int row_bytes(KvFormat f, int D) { return f == KvFormat::F16 ? 2 * D : f == KvFormat::Int4 ? D / 2 : D; }

struct QuantRow {
  std::vector<uint8_t> codes;
  uint16_t scale = 0, zero = 0;
};

inline QuantRow quantize_row(KvFormat f, const uint16_t* x, int D, float fp8_scale) {
  QuantRow r;
  r.codes.assign(size_t(row_bytes(f, D)), 0);
  auto div = [](float a, float b) {
    return std::bit_cast<float>(fmt::lb_div_f32(std::bit_cast<uint32_t>(a), std::bit_cast<uint32_t>(b)));
  };
  if (f == KvFormat::F16) {
    std::memcpy(r.codes.data(), x, size_t(D) * 2);
  } else if (f == KvFormat::E4M3 || f == KvFormat::E5M2) {
    for (int d = 0; d < D; ++d)
      r.codes[size_t(d)] = uint8_t(fmt::lb_encode(std::bit_cast<uint32_t>(div(h2f(x[d]), fp8_scale)), 0,
                                                  f == KvFormat::E4M3 ? LB_FMT_E4M3 : LB_FMT_E5M2, true));
  } else {
    const int L = f == KvFormat::Int8 ? 255 : 15;
    float mn = h2f(x[0]), mx = mn;
    for (int d = 1; d < D; ++d) mn = std::min(mn, h2f(x[d])), mx = std::max(mx, h2f(x[d]));
    r.zero = f2h(mn);
    r.scale = f2h(div(mx - mn, float(L)));
    if ((r.scale & 0x7FFF) == 0) r.scale = 0x3C00;
    for (int d = 0; d < D; ++d) {
      double q = std::nearbyint(div(h2f(x[d]) - h2f(r.zero), h2f(r.scale)));
      int c = int(std::clamp(q, 0.0, double(L)));
      if (f == KvFormat::Int8) r.codes[size_t(d)] = uint8_t(c);
      else r.codes[size_t(d / 2)] |= uint8_t(c << (4 * (d % 2)));
    }
  }
  return r;
}

// Cache row index of token j of sequence b, kv head h.
inline size_t cache_row(const CacheBytes& b, int P, int hkv, size_t seq, int j, int h) {
  return (size_t(b.pages[seq][size_t(j / P)]) * size_t(P) + size_t(j % P)) * size_t(hkv) + size_t(h);
}

// Dequantized K or V of one sequence as doubles [len, Hkv, D], decoded from the raw bytes.
inline std::vector<double> dequantize_seq(const Case& c, const CacheBytes& b, size_t seq, bool is_v) {
  const int len = c.kv[seq], rb = row_bytes(c.fmt, c.D);
  const auto& codes = is_v ? b.v : b.k;
  std::vector<double> out(size_t(len) * size_t(c.hkv * c.D));
  for (int j = 0; j < len; ++j)
    for (int h = 0; h < c.hkv; ++h) {
      size_t row = cache_row(b, c.P, c.hkv, seq, j, h);
      const uint8_t* cd = &codes[row * size_t(rb)];
      double* o = &out[(size_t(j) * size_t(c.hkv) + size_t(h)) * size_t(c.D)];
      for (int d = 0; d < c.D; ++d) {
        switch (c.fmt) {
          case KvFormat::F16: {
            uint16_t x;
            std::memcpy(&x, cd + 2 * d, 2);
            o[d] = h2f(x);
            break;
          }
          case KvFormat::Int8:
          case KvFormat::Int4: {
            int q = c.fmt == KvFormat::Int8 ? cd[d] : (cd[d / 2] >> (4 * (d % 2))) & 15;
            double s = h2f((is_v ? b.vs : b.ks)[row]), z = h2f((is_v ? b.vz : b.kz)[row]);
            o[d] = q * s + z;
            break;
          }
          default: {
            const auto& sc = is_v ? b.v8 : b.k8;
            double s = sc[sc.size() == 1 ? 0 : size_t(h)];
            o[d] = double(std::bit_cast<float>(
                       fmt::lb_decode(cd[d], 0, c.fmt == KvFormat::E4M3 ? LB_FMT_E4M3 : LB_FMT_E5M2, LB_FMT_F32))) *
                   s;
          }
        }
      }
    }
  return out;
}

// ---- fp64 attention and its tolerance ------------------------------------------------------------
struct Expected {
  std::vector<double> out, tol;  // per element; tol is per row, repeated
};

// Bound on |fp32 result - exact| for one query row (first-order, every term a worst case):
//   logits: the fp32 dot in another order errs by <= (D + 4)·u·Σ_d|q_d·k_jd|, times |scale|, and the
//     dequantized fp32 K value (q·s + z, two roundings) by 2u(|q·s| + |z|) <= 4u·|k| + (int: u·|z|),
//     folded in as (D + 8)·u; softcap (/C, tanh, ·C; a GPU tanh from exp) adds <= 16u·C;
//     call the largest logit error E.
//   weights p_j = exp(s_j - m)/l move by a relative <= 2E (+ 8u for exp and the division);
//   the fp32 sums over n keys (l and Σ p_j v_j, possibly split into pages and merged by log-sum-exp)
//     err by <= (2n + 48)·u relative to max|v|.
//   => tol = max|v| · (2.5·E + (2n + 64)·u) (+ half an fp16 ulp of max|v| for fp16 output).
// A wrong mask, scale, GQA mapping or page lookup moves outputs by orders of magnitude more.
inline double tolerance_fp32(double sum_abs_qk_max, double vmax, int D, int n, double scale, double softcap,
                             bool out_f16) {
  double E = std::fabs(scale) * double(D + 8) * kU * sum_abs_qk_max + (softcap > 0 ? 16 * kU * softcap : 0.0);
  double tol = vmax * (2.5 * E + double(2 * n + 64) * kU);
  if (out_f16) tol += vmax * 0x1p-11;
  return tol + 1e-30;
}

// softmax(scale·q·Kᵀ)·V in double for every query row of the case over K/V given per sequence as
// [len, Hkv, D] doubles; queries are the last sq[b] tokens of sequence b. `extra_rel(sum|qk|)` lets
// callers widen the tolerance (fp16 rounding of the inputs).
template <class Extra>
Expected attention_fp64(const Case& c, const std::vector<uint16_t>& q, const std::vector<std::vector<double>>& K,
                        const std::vector<std::vector<double>>& V, Extra extra) {
  const auto qs = c.queries();
  const int G = c.hq / c.hkv, D = c.D, W = c.opt.window;
  const bool causal = c.opt.causal || W > 0;
  const double scale = c.opt.scale ? double(*c.opt.scale) : 1.0 / std::sqrt(double(D));
  const double C = c.opt.softcap;
  Expected e;
  size_t qrow = 0;
  for (size_t b = 0; b < qs.size(); ++b) {
    const int skv = c.kv[b], sq = qs[b];
    for (int i = 0; i < sq; ++i, ++qrow) {
      const int p = i + skv - sq;
      const int hi = causal ? p : skv - 1, lo = W > 0 ? std::max(0, p - W + 1) : 0;
      for (int h = 0; h < c.hq; ++h) {
        const int hk = h / G;
        const uint16_t* qr = &q[(qrow * size_t(c.hq) + size_t(h)) * size_t(D)];
        std::vector<double> s;
        double m = -INFINITY, sabs = 0, vmax = 0;
        for (int j = lo; j <= hi; ++j) {
          const double* k = &K[b][(size_t(j) * size_t(c.hkv) + size_t(hk)) * size_t(D)];
          const double* v = &V[b][(size_t(j) * size_t(c.hkv) + size_t(hk)) * size_t(D)];
          double dot = 0, a = 0;
          for (int d = 0; d < D; ++d) dot += h2f(qr[d]) * k[d], a += std::fabs(h2f(qr[d]) * k[d]);
          double x = scale * dot;
          if (C > 0) x = C * std::tanh(x / C);
          s.push_back(x);
          m = std::max(m, x);
          sabs = std::max(sabs, a);
          for (int d = 0; d < D; ++d) vmax = std::max(vmax, std::fabs(v[d]));
        }
        double l = 0;
        std::vector<double> o(size_t(D), 0.0);
        for (int j = lo; j <= hi; ++j) {
          double w = std::exp(s[size_t(j - lo)] - m);
          l += w;
          const double* v = &V[b][(size_t(j) * size_t(c.hkv) + size_t(hk)) * size_t(D)];
          for (int d = 0; d < D; ++d) o[size_t(d)] += w * v[d];
        }
        double tol = tolerance_fp32(sabs, vmax, D, hi - lo + 1, scale, C, !c.opt.out_f32) +
                     vmax * extra(std::fabs(scale) * sabs);
        for (int d = 0; d < D; ++d) {
          e.out.push_back(o[size_t(d)] / l);
          e.tol.push_back(tol);
        }
      }
    }
  }
  return e;
}

// Counts elements outside their tolerance, reporting the first few.
inline size_t count_mismatches(const std::vector<float>& got, const std::vector<double>& want,
                               const std::vector<double>& tol, const std::string& what, int D) {
  size_t bad = 0;
  if (got.size() != want.size()) {
    ADD_FAILURE() << what << ": " << got.size() << " outputs, expected " << want.size();
    return 1;
  }
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(double(got[i]) - want[i]) <= tol[i]) && ++bad <= 3)
      ADD_FAILURE() << what << ": out[row " << i / size_t(D) << ", d " << i % size_t(D) << "] = " << got[i]
                    << ", expected " << want[i] << " (tol " << tol[i] << ")";
  return bad;
}

}  // namespace lowbit::test::attn
