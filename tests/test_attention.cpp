// test_attention.cpp — the paged, quantized KV cache and attention:
//  (a) the CPU reference against plain fp64 softmax(scale·QKᵀ)V over the dequantized cache, for every
//      KV format, head dim, GQA ratio (1, 4, 8, MQA), ragged lengths {1, 15, 16, 17, 1000}, page sizes
//      {8, 16, 32}, causal / non-causal / window / softcap / custom scale / fp16 output, decode and
//      prefill; kv_append bytes equal the pinned quantization written out independently;
//  (b) an fp16 cache matches unquantized attention to fp16 rounding;
//  (c) every GPU backend: kv_append bytes (codes, scales, zeros) equal the CPU's bit for bit, and its
//      attention matches the fp64 reference within the fp32 tolerance (attention_harness.hpp) and the
//      CPU within twice that; prefill over every format x head dim with GQA 1/4/8, causal / windowed,
//      chunked ragged sequences;
//  (d) bad input gives typed errors; NaN in Q gives NaN rows (and only those);
//  (e) pages are really scattered, and freed pages are reused.
#include <gtest/gtest.h>

#include <set>

#include "support/attention_harness.hpp"
#include "support/backends.hpp"

using namespace lowbit;
using namespace lowbit::test::attn;

namespace {

const KvFormat kFormats[] = {KvFormat::F16, KvFormat::Int8, KvFormat::Int4, KvFormat::E4M3, KvFormat::E5M2};
const int kHeadDims[] = {64, 80, 96, 128, 256};

// Decode and prefill variants of one configuration; `k` rotates GQA ratio, page size and options so
// that formats x head dims together cover every value of each. `small` keeps GPU-driver runs short.
std::vector<Case> rotated_cases(KvFormat f, int D, int k, bool small) {
  static const int ratios[] = {1, 4, 8};
  static const int pages[] = {16, 8, 32};
  Case c;
  c.fmt = f;
  c.D = D;
  c.hkv = 2;
  c.hq = 2 * ratios[k % 3];
  if (small && c.hq > 8) c.hkv = 1, c.hq = 8;  // MQA
  c.P = pages[k % 3];
  c.fp8_per_head = k % 2 == 0;
  switch (k % 5) {
    case 0: c.opt.causal = true; break;
    case 1: c.opt.window = 24; break;
    case 2: c.opt.softcap = 8.0f; c.opt.causal = false; break;
    case 3: c.opt.scale = 0.05f; c.opt.out_f32 = false; break;
    case 4: c.opt.causal = true; c.opt.window = 7; c.opt.softcap = 20.0f; c.opt.scale = 0.2f; break;
  }
  Case decode = c, prefill = c;
  prefill.sq = {1, 7, 16, 17, small ? 9 : 24};
  if (k % 2) decode.opt.split_pages = 1 + k % 3;
  return {decode, prefill};
}

// The KHR cooperative-matrix prefill multiplies fp16 K, V and P (attention_prefill_coopmat_khr.comp): a logit errs
// by up to one fp16 rounding per term (times 2.5 as in tolerance_fp32), a weight and a value by one rounding each.
double fp16_operands_extra(double scaled_sum_abs) { return 2.5 * 0x1.2p-11 * scaled_sum_abs + 3 * 0x1.2p-11; }
bool fp16_operands(const Result& r) { return r.kernel == "attention_prefill_coopmat_khr"; }

// fp64 reference over the dequantized bytes of `r`; `fp16_ops`: the tolerance of fp16 products (above).
Expected reference(const Case& c, const Inputs& in, const Result& r, double extra_rel = 0.0, bool fp16_ops = false) {
  std::vector<std::vector<double>> K, V;
  for (size_t b = 0; b < c.kv.size(); ++b) {
    K.push_back(dequantize_seq(c, r.bytes, b, false));
    V.push_back(dequantize_seq(c, r.bytes, b, true));
  }
  return attention_fp64(c, in.q, K, V,
                        [&](double x) { return extra_rel + (fp16_ops ? fp16_operands_extra(x) : 0.0); });
}

// Every written cache row equals the pinned quantization of its input row.
void expect_pinned_quantization(const Case& c, const Inputs& in, const CacheBytes& b) {
  const int rb = row_bytes(c.fmt, c.D);
  size_t bad = 0, base = 0;
  for (size_t s = 0; s < c.kv.size(); ++s) {
    for (int j = 0; j < c.kv[s]; ++j)
      for (int h = 0; h < c.hkv; ++h)
        for (int is_v = 0; is_v < 2; ++is_v) {
          const auto& src = is_v ? in.v : in.k;
          const uint16_t* x = &src[((base + size_t(j)) * size_t(c.hkv) + size_t(h)) * size_t(c.D)];
          auto sc = c.fp8_scales(is_v);
          QuantRow want = quantize_row(c.fmt, x, c.D, sc[sc.size() == 1 ? 0 : size_t(h)]);
          size_t row = cache_row(b, c.P, c.hkv, s, j, h);
          const auto& codes = is_v ? b.v : b.k;
          bool ok = std::equal(want.codes.begin(), want.codes.end(), codes.begin() + long(row * size_t(rb)));
          if (c.fmt == KvFormat::Int8 || c.fmt == KvFormat::Int4)
            ok = ok && (is_v ? b.vs : b.ks)[row] == want.scale && (is_v ? b.vz : b.kz)[row] == want.zero;
          if (!ok && ++bad <= 3)
            ADD_FAILURE() << c.name() << ": " << (is_v ? "V" : "K") << " row of seq " << s << " token " << j
                          << " head " << h << " differs from the pinned quantization";
        }
    base += size_t(c.kv[s]);
  }
  EXPECT_EQ(bad, 0u) << c.name();
}

// A GPU backend's attention output against the fp64 reference (fp32 tolerance) and the CPU's (twice that).
void expect_gpu_output_matches(const Case& c, const Inputs& in, const Result& cpu, const Result& gpu) {
  Expected e = reference(c, in, cpu, 0.0, fp16_operands(gpu));
  EXPECT_EQ(count_mismatches(gpu.out, e.out, e.tol, c.name() + " vs fp64 (" + gpu.kernel + ")", c.D), 0u);
  for (auto& t : e.tol) t *= 2;
  std::vector<double> cpu_out(cpu.out.begin(), cpu.out.end());
  EXPECT_EQ(count_mismatches(gpu.out, cpu_out, e.tol, c.name() + " vs cpu", c.D), 0u);
}

Context cpu_context() {
  ContextOptions o;
  o.backend = Backend::CPU;
  return Context::create(o);
}

}  // namespace

// ---- (a) the CPU reference ------------------------------------------------------------------------

TEST(AttentionReference, MatchesFp64OnDequantizedKvForEveryFormatAndHeadDim) {
  Context cpu = cpu_context();
  int k = 0;
  for (KvFormat f : kFormats)
    for (int D : kHeadDims) {
      for (const Case& c : rotated_cases(f, D, k, false)) {
        Inputs in = make_inputs(c, uint32_t(100 + k));
        Result r = run_case(cpu, c, in);
        expect_pinned_quantization(c, in, r.bytes);
        Expected e = reference(c, in, r);
        EXPECT_EQ(count_mismatches(r.out, e.out, e.tol, c.name(), c.D), 0u) << c.name();
      }
      ++k;
    }
}

TEST(AttentionReference, EveryGqaRatioAndMask) {
  Context cpu = cpu_context();
  const std::pair<int, int> heads[] = {{2, 2}, {2, 8}, {2, 16}, {1, 8}};  // (Hkv, Hq): 1, 4, 8, MQA
  std::vector<AttentionOptions> opts(9);
  opts[1].causal = false;
  opts[2].window = 1;  // only its own key
  opts[3].window = 5;
  opts[4].window = 16, opts[4].causal = false;  // a window implies causal
  opts[5].window = 5000;                        // wider than any sequence
  opts[6].softcap = 5.0f;
  opts[7].scale = 0.3f;
  opts[8].out_f32 = false;
  int n = 0;
  for (auto [hkv, hq] : heads)
    for (const auto& o : opts)
      for (bool prefill : {false, true}) {
        Case c;
        c.fmt = n % 2 ? KvFormat::Int8 : KvFormat::E4M3;
        c.D = 80;
        c.hkv = hkv, c.hq = hq;
        c.P = n % 3 == 0 ? 8 : 16;
        c.kv = {1, 15, 16, 17, 200};
        if (prefill) c.sq = {1, 15, 3, 17, 40};
        c.opt = o;
        Inputs in = make_inputs(c, uint32_t(500 + n++));
        Result r = run_case(cpu, c, in);
        Expected e = reference(c, in, r);
        EXPECT_EQ(count_mismatches(r.out, e.out, e.tol, c.name(), c.D), 0u) << c.name();
      }
}

TEST(AttentionReference, WindowAndCausalMaskKeysExactly) {
  // V = one-hot of the key position: the output is exactly the softmax weight of each key, so a key
  // that should be masked shows as a nonzero weight (q = 0: uniform weights over the visible keys).
  Context cpu = cpu_context();
  Case c;
  c.D = 64, c.hkv = 1, c.hq = 1, c.P = 8;
  c.kv = {40};
  c.sq = {6};
  c.opt.window = 4;
  Inputs in;
  in.k.assign(40 * 64, f2h(0.25f));
  in.v.assign(40 * 64, 0);
  for (int j = 0; j < 40; ++j) in.v[size_t(j * 64 + j)] = f2h(1.0f);
  in.q.assign(6 * 64, 0);
  Result r = run_case(cpu, c, in);
  for (int i = 0; i < 6; ++i) {
    int p = i + 34;
    for (int j = 0; j < 40; ++j) {
      float want = (j <= p && j > p - 4) ? 0.25f : 0.0f;
      EXPECT_EQ(r.out[size_t(i * 64 + j)], want) << "query " << i << " key " << j;
    }
  }
}

// ---- (b) fp16 KV is unquantized attention up to fp16 rounding ------------------------------------

TEST(AttentionReference, Fp16KvMatchesUnquantizedAttentionToFp16Rounding) {
  Context cpu = cpu_context();
  for (int D : kHeadDims) {
    for (bool prefill : {false, true}) {
      Case c;
      c.D = D, c.hkv = 2, c.hq = 8;
      if (prefill) c.sq = {1, 15, 16, 17, 24};
      std::mt19937 rng(uint32_t(D + prefill));
      std::normal_distribution<float> nd(0.0f, 1.0f);
      size_t n = 0;
      for (int x : c.kv) n += size_t(x);
      std::vector<float> k32(n * size_t(c.hkv * D)), v32(k32.size());
      Inputs in = make_inputs(c, uint32_t(D));
      for (size_t i = 0; i < k32.size(); ++i) {
        k32[i] = nd(rng), v32[i] = nd(rng);
        in.k[i] = f2h(k32[i]), in.v[i] = f2h(v32[i]);
      }
      Result r = run_case(cpu, c, in);
      std::vector<std::vector<double>> K, V;
      size_t base = 0;
      for (int len : c.kv) {
        size_t a = base * size_t(c.hkv * D), e = (base + size_t(len)) * size_t(c.hkv * D);
        K.emplace_back(k32.begin() + long(a), k32.begin() + long(e));
        V.emplace_back(v32.begin() + long(a), v32.begin() + long(e));
        base += size_t(len);
      }
      // Rounding K to fp16 moves a logit by <= 2^-11·scale·Σ|q k|, so each weight by a relative
      // 2·that; rounding V moves the output by <= 2^-11·max|v|.
      auto fp16_rounding = [](double scaled_sum_abs) { return 2.5 * 0x1.2p-11 * scaled_sum_abs + 0x1.2p-11; };
      Expected e = attention_fp64(c, in.q, K, V, fp16_rounding);
      EXPECT_EQ(count_mismatches(r.out, e.out, e.tol, c.name() + " vs unquantized", D), 0u);
    }
  }
}

// ---- (c) GPU backends against the CPU ---------------------------------------------------------------

class AttentionBackends : public ::testing::TestWithParam<Backend> {};

TEST_P(AttentionBackends, KvAppendBytesAndAttentionMatchCpu) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = cpu_context();
  int k = 0;
  for (KvFormat f : kFormats)
    for (int D : kHeadDims) {
      for (Case c : rotated_cases(f, D, k, true)) {
        Inputs in = make_inputs(c, uint32_t(900 + k));
        Result want = run_case(cpu, c, in);
        Result got = run_case(gpu, c, in);
        ASSERT_EQ(got.bytes.pages, want.bytes.pages) << "same seed, same page assignment";
        // Bytes of every written row (unwritten slots are not compared: GPU memory is not cleared).
        const int rb = row_bytes(c.fmt, c.D);
        size_t bad = 0;
        for (size_t s = 0; s < c.kv.size(); ++s)
          for (int j = 0; j < c.kv[s]; ++j)
            for (int h = 0; h < c.hkv; ++h) {
              size_t row = cache_row(want.bytes, c.P, c.hkv, s, j, h);
              auto same = [&](const auto& a, const auto& b, size_t off, size_t n) {
                return std::equal(a.begin() + long(off), a.begin() + long(off + n), b.begin() + long(off));
              };
              bool ok = same(got.bytes.k, want.bytes.k, row * size_t(rb), size_t(rb)) &&
                        same(got.bytes.v, want.bytes.v, row * size_t(rb), size_t(rb));
              if (c.fmt == KvFormat::Int8 || c.fmt == KvFormat::Int4)
                ok = ok && got.bytes.ks[row] == want.bytes.ks[row] && got.bytes.kz[row] == want.bytes.kz[row] &&
                     got.bytes.vs[row] == want.bytes.vs[row] && got.bytes.vz[row] == want.bytes.vz[row];
              if (!ok && ++bad <= 3)
                ADD_FAILURE() << c.name() << ": cache row of seq " << s << " token " << j << " head " << h
                              << " differs from the CPU's";
            }
        EXPECT_EQ(bad, 0u) << c.name() << ": kv_append bytes";
        expect_gpu_output_matches(c, in, want, got);
      }
      ++k;
    }
  test::expect_clean(gpu);
}

// Prefill tiles of every shape the kernels choose: every format x head dim, GQA 1 / 4 / 8 and causal /
// windowed rotated over them; ragged sequences whose queries continue a cache (chunked prefill: the
// first query sits at kv - sq), so row tiles end inside a query's heads and key tiles run past the
// causal / window range on both sides.
TEST_P(AttentionBackends, PrefillMatchesFp64AndCpuForEveryFormatHeadDimGqaAndMask) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, GetParam());
  Context cpu = cpu_context();
  static const int ratios[] = {1, 4, 8};
  int k = 0;
  for (KvFormat f : kFormats)
    for (int D : kHeadDims) {
      Case c;
      c.fmt = f, c.D = D;
      c.hkv = k % 2 ? 1 : 2;
      c.hq = c.hkv * ratios[k % 3];
      c.P = k % 2 ? 16 : 8;
      c.kv = {45, 70, 3, 33};
      c.sq = {45, 29, 3, 1};
      c.opt.causal = true;
      if ((k / 3) % 2) c.opt.window = 13 + k % 7;
      if (k % 4 == 3) c.opt.out_f32 = false;
      Inputs in = make_inputs(c, uint32_t(1300 + k));
      Result want = run_case(cpu, c, in);
      Result got = run_case(gpu, c, in);
      expect_gpu_output_matches(c, in, want, got);
      ++k;
    }
  test::expect_clean(gpu);
}

INSTANTIATE_TEST_SUITE_P(Gpu, AttentionBackends, ::testing::ValuesIn(lowbit::test::gpu_backends()),
                         lowbit::test::backend_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(AttentionBackends);

// ---- (d) bad input, on every backend ----------------------------------------------------------------

class AttentionInputs : public ::testing::TestWithParam<Backend> {};

#define EXPECT_LB_ERROR(stmt, want_code, want_text)                                                  \
  do {                                                                                     \
    try {                                                                                  \
      stmt;                                                                                \
      ADD_FAILURE() << #stmt << " did not throw";                                          \
    } catch (const Error& e_) {                                                            \
      EXPECT_EQ(e_.code(), want_code) << e_.what();                                        \
      EXPECT_NE(std::string(e_.what()).find(want_text), std::string::npos) << e_.what();   \
    }                                                                                      \
  } while (0)

TEST_P(AttentionInputs, BadCacheOptionsAreTypedErrors) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  KvCacheOptions o;
  o.num_pages = 4, o.kv_heads = 2, o.head_dim = 100;
  EXPECT_LB_ERROR(ctx.create_kv_cache(o), ErrorCode::InvalidArgument, "supported: 64, 80, 96, 128, 256");
  o.head_dim = 64;
  o.page_size = 0;
  EXPECT_LB_ERROR(ctx.create_kv_cache(o), ErrorCode::InvalidArgument, "page_size");
  o.page_size = 16;
  o.num_pages = 0;
  EXPECT_LB_ERROR(ctx.create_kv_cache(o), ErrorCode::InvalidArgument, "num_pages");
  o.num_pages = 4;
  o.kv_heads = 0;
  EXPECT_LB_ERROR(ctx.create_kv_cache(o), ErrorCode::InvalidArgument, "kv_heads");
  o.kv_heads = 2;
  o.format = KvFormat::E4M3;
  o.k_scale = {1.0f, 2.0f, 3.0f};
  EXPECT_LB_ERROR(ctx.create_kv_cache(o), ErrorCode::InvalidArgument, "k_scale");
  o.k_scale = {};
  EXPECT_LB_ERROR(ctx.create_kv_cache(o), ErrorCode::InvalidArgument, "k_scale");
  o.k_scale = {1.0f};
  o.v_scale = {0.0f};
  EXPECT_LB_ERROR(ctx.create_kv_cache(o), ErrorCode::InvalidArgument, "v_scale");
  o.v_scale = {NAN, 1.0f};
  EXPECT_LB_ERROR(ctx.create_kv_cache(o), ErrorCode::InvalidArgument, "v_scale");
  EXPECT_LB_ERROR(parse_kv_format("int3"), ErrorCode::InvalidArgument, "fp16, int8, int4, e4m3 or e5m2");
  test::expect_clean(ctx);
}

TEST_P(AttentionInputs, BadCallsAreTypedErrors) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  KvCacheOptions o;
  o.num_pages = 3, o.page_size = 4, o.kv_heads = 2, o.head_dim = 64, o.format = KvFormat::Int4;
  KvCache c = ctx.create_kv_cache(o);
  int s = c.add_sequence();
  std::vector<int> one{s}, five{5};
  c.extend(one, five);
  std::vector<uint16_t> zeros(64 * 6 * 64, 0);
  auto rows = [&](int64_t n, int64_t h, int64_t d) { return ctx.upload(DType::F16, {n, h, d}, zeros.data(), size_t(n * h * d * 2)); };
  Buffer kv5 = rows(5, 2, 64);
  std::vector<int> bad_id{s + 7}, six{6}, neg{-1};
  EXPECT_LB_ERROR(ctx.kv_append(c, 1, one, five, kv5, kv5), ErrorCode::InvalidArgument, "layer 1");
  EXPECT_LB_ERROR(ctx.kv_append(c, 0, bad_id, five, kv5, kv5), ErrorCode::InvalidArgument, "unknown sequence");
  EXPECT_LB_ERROR(ctx.kv_append(c, 0, one, six, kv5, kv5), ErrorCode::InvalidArgument, "extend");
  EXPECT_LB_ERROR(ctx.kv_append(c, 0, one, five, rows(5, 1, 64), kv5), ErrorCode::InvalidArgument, "k must be");
  ctx.kv_append(c, 0, one, five, kv5, kv5);

  std::vector<int> q1{1}, q0{0}, q9{9};
  EXPECT_LB_ERROR(ctx.attention(rows(1, 3, 64), c, 0, one, q1), ErrorCode::InvalidArgument, "incompatible");
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 80), c, 0, one, q1), ErrorCode::InvalidArgument, "head dim");
  EXPECT_LB_ERROR(ctx.attention(rows(2, 4, 64), c, 0, one, q1), ErrorCode::InvalidArgument, "add up");
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 64), c, 2, one, q1), ErrorCode::InvalidArgument, "layer 2");
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 64), c, 0, bad_id, q1), ErrorCode::InvalidArgument, "unknown sequence");
  EXPECT_LB_ERROR(ctx.attention(rows(0, 4, 64), c, 0, one, q0), ErrorCode::InvalidArgument, "no queries");
  EXPECT_LB_ERROR(ctx.attention(rows(9, 4, 64), c, 0, one, q9), ErrorCode::InvalidArgument, "cached tokens");
  Buffer q32 = ctx.upload(DType::F32, {1, 4, 64}, zeros.data(), 4 * 64 * 4);
  EXPECT_LB_ERROR(ctx.attention(q32, c, 0, one, q1), ErrorCode::InvalidArgument, "float16");
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 64), c, 0, one, q1, {.window = -1}), ErrorCode::InvalidArgument, "window");
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 64), c, 0, one, q1, {.softcap = NAN}), ErrorCode::InvalidArgument, "softcap");
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 64), c, 0, one, q1, {.scale = INFINITY}), ErrorCode::InvalidArgument, "scale");

  // Out of pages: all-or-nothing, names the sequence.
  int s2 = c.add_sequence();
  std::vector<int> both{s, s2}, grow{4, 4};
  EXPECT_LB_ERROR(c.extend(both, grow), ErrorCode::OutOfMemory, "sequence " + std::to_string(s2));
  EXPECT_EQ(c.length(s), 5);
  EXPECT_EQ(c.length(s2), 0);
  EXPECT_EQ(c.free_pages(), 1);
  std::vector<int> huge{1 << 20};
  EXPECT_LB_ERROR(c.extend(one, huge), ErrorCode::OutOfMemory, "sequence " + std::to_string(s));

  // Corrupted host state (impossible through the API) is caught before any kernel sees it.
  auto& st = detail::kv_state(c).seq(s);
  int32_t saved = st.pages[1];
  st.pages[1] = 99;
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 64), c, 0, one, q1), ErrorCode::Internal, "outside");
  EXPECT_LB_ERROR(ctx.kv_append(c, 0, one, five, kv5, kv5), ErrorCode::Internal, "outside");
  st.pages[1] = saved;
  st.length = 9;
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 64), c, 0, one, q1), ErrorCode::Internal, "longer than its");
  st.length = 5;

  // A cache of another context, an empty cache, a freed sequence.
  Context other = cpu_context();
  EXPECT_LB_ERROR(other.attention(other.upload(DType::F16, {1, 4, 64}, zeros.data(), 512), c, 0, one, q1),
                  ErrorCode::InvalidArgument, "another context");
  KvCache empty;
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 64), empty, 0, one, q1), ErrorCode::InvalidArgument, "empty KvCache");
  EXPECT_LB_ERROR(empty.add_sequence(), ErrorCode::InvalidArgument, "empty KvCache");
  c.free_sequence(s);
  EXPECT_LB_ERROR(c.length(s), ErrorCode::InvalidArgument, "unknown sequence");
  EXPECT_LB_ERROR(ctx.attention(rows(1, 4, 64), c, 0, one, q1), ErrorCode::InvalidArgument, "unknown sequence");
  test::expect_clean(ctx);
}

TEST_P(AttentionInputs, NanInQueryGivesNanRowsOnly) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  for (bool prefill : {false, true}) {
    Case c;
    c.fmt = KvFormat::Int8;
    c.D = 64, c.hkv = 1, c.hq = 2;
    c.kv = {20, 33};
    if (prefill) c.sq = {3, 5};
    Inputs in = make_inputs(c, 3);
    in.q[size_t(1 * 2 * 64 + 1 * 64 + 5)] = 0x7E00;  // query row 1, head 1, d 5
    Result r = run_case(ctx, c, in);
    for (size_t row = 0; row * 64 < r.out.size(); ++row) {
      bool nan_row = row == 3;  // (query 1, head 1)
      for (size_t d = 0; d < 64; ++d)
        EXPECT_EQ(std::isnan(r.out[row * 64 + d]), nan_row) << c.name() << " row " << row << " d " << d;
    }
  }
  test::expect_clean(ctx);
}

INSTANTIATE_TEST_SUITE_P(All, AttentionInputs, ::testing::ValuesIn(lowbit::test::all_backends()),
                         lowbit::test::backend_param_name);

// ---- (e) paging ----------------------------------------------------------------------------------

TEST(KvCachePaging, PagesAreScatteredAndFreedPagesReused) {
  Context cpu = cpu_context();
  Case c;
  c.fmt = KvFormat::Int4;
  c.D = 64, c.hkv = 2, c.hq = 4, c.P = 16;
  c.kv = {300};
  KvCache cache = cpu.create_kv_cache(cache_options(c, 20));  // 19 + 20 pages
  EXPECT_EQ(cache.free_pages(), 39);
  cache.scatter_free_pages(11);
  int a = cache.add_sequence();
  std::vector<int> ids{a}, n{300};
  cache.extend(ids, n);
  auto pa = cache.pages(a);
  ASSERT_EQ(pa.size(), 19u);
  std::vector<int32_t> sorted = pa;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(pa, sorted) << "pages handed out in order: not scattered";
  EXPECT_GT(sorted.back() - sorted.front(), 18) << "pages are one contiguous run";
  EXPECT_EQ(std::set<int32_t>(pa.begin(), pa.end()).size(), pa.size());
  EXPECT_EQ(cache.free_pages(), 20);

  // Fill it with data X, free it, refill a new sequence with Y: Y's pages are X's, and attention
  // sees only Y.
  Inputs x = make_inputs(c, 1), y = make_inputs(c, 2);
  auto append = [&](int id, const Inputs& in) {
    Buffer kb = cpu.upload(DType::F16, {300, 2, 64}, in.k.data(), in.k.size() * 2);
    Buffer vb = cpu.upload(DType::F16, {300, 2, 64}, in.v.data(), in.v.size() * 2);
    std::vector<int> s{id};
    cpu.kv_append(cache, 0, s, n, kb, vb);
  };
  append(a, x);
  cache.free_sequence(a);
  EXPECT_EQ(cache.free_pages(), 39);
  int b = cache.add_sequence();
  EXPECT_NE(a, b);
  std::vector<int> idb{b};
  cache.extend(idb, n);
  EXPECT_EQ(cache.pages(b), pa) << "freed pages are reused first";
  append(b, y);
  Buffer qb = cpu.upload(DType::F16, {1, 4, 64}, y.q.data(), 4 * 64 * 2);
  std::vector<int> q1{1};
  auto out = cpu.download<float>(cpu.attention(qb, cache, 0, idb, q1));
  Result r;
  r.bytes = read_cache(cpu, cache, idb);
  Expected e = reference(c, y, r);
  EXPECT_EQ(count_mismatches(out, e.out, e.tol, "reused pages", 64), 0u);
  expect_pinned_quantization(c, y, r.bytes);

  // Growing a sequence token by token takes a new page exactly every P tokens.
  int g = cache.add_sequence();
  std::vector<int> idg{g}, one{1};
  int before = cache.free_pages();
  for (int t = 1; t <= 33; ++t) {
    cache.extend(idg, one);
    EXPECT_EQ(cache.length(g), t);
    EXPECT_EQ(int(cache.pages(g).size()), (t + 15) / 16);
  }
  EXPECT_EQ(cache.free_pages(), before - 3);
}
