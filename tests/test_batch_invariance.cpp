// test_batch_invariance.cpp — deterministic mode (ContextOptions::deterministic): on every backend a row
// of gemm_f16 / gemm_w4a16 is bit-identical whether computed alone (M = 1), in a GEMV-sized batch (M = 16)
// or in a batch of 64, for several K (one and several K slices); a sequence's decode and prefill attention
// rows are bit-identical alone and in a batch of 64 sequences. Without the mode the GPU backends differ
// (GEMV against tiled summation order, decode splits chosen from the batch size).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/backends.hpp"
#include "support/random_inputs.hpp"

using namespace lowbit;

namespace {

Context deterministic_context(Backend b) { return Context::create({.backend = b, .deterministic = true}); }

// Rows `rows` of x [m, k] as their own matrix.
std::vector<uint16_t> take_rows(const std::vector<uint16_t>& x, int64_t k, const std::vector<int64_t>& rows) {
  std::vector<uint16_t> out;
  for (int64_t r : rows) out.insert(out.end(), x.begin() + r * k, x.begin() + (r + 1) * k);
  return out;
}

// Whether row `row` of a [*, n] result equals row `other` of another, bit for bit (fp32 bits).
bool same_row_bits(const std::vector<float>& a, int64_t row, const std::vector<float>& b, int64_t other, int64_t n) {
  return std::memcmp(&a[size_t(row * n)], &b[size_t(other * n)], size_t(n) * 4) == 0;
}

class BatchInvariance : public ::testing::TestWithParam<Backend> {};

// Row i of a GEMM over 64 rows against the same row computed in sub-batches of 1 and 16 rows.
template <class Gemm>
void expect_rows_batch_invariant(Context& ctx, int64_t k, int64_t n, const Gemm& gemm, const std::string& what) {
  const int64_t m = 64;
  auto x = test::random_f16_normal(size_t(m * k), uint32_t(k));
  Buffer xb = ctx.upload(DType::F16, {m, k}, x.data(), x.size() * 2);
  const std::vector<float> full = ctx.download<float>(gemm(xb));
  for (std::vector<int64_t> rows : {std::vector<int64_t>{0}, {37}, {63},
                                    {48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63}}) {
    auto xs = take_rows(x, k, rows);
    Buffer xsb = ctx.upload(DType::F16, {int64_t(rows.size()), k}, xs.data(), xs.size() * 2);
    const std::vector<float> part = ctx.download<float>(gemm(xsb));
    for (size_t i = 0; i < rows.size(); ++i)
      EXPECT_TRUE(same_row_bits(full, rows[i], part, int64_t(i), n))
          << what << " K=" << k << ": row " << rows[i] << " differs between M = 64 and M = " << rows.size();
  }
}

TEST_P(BatchInvariance, GemmW4A16RowsAreBitIdenticalAloneAndInABatchOf64) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  Context ctx = deterministic_context(GetParam());
  ASSERT_TRUE(ctx.deterministic());
  for (int64_t k : {256, 1152, 2304}) {  // one K slice, two, three (slices of 1024 rows)
    for (bool sym : {true, false}) {
      const int64_t n = 200;
      W4Layer l = ctx.upload_w4(test::random_w4_layer(n, k, 128, uint32_t(k) + sym, sym));
      expect_rows_batch_invariant(
          ctx, k, n, [&](const Buffer& x) { return ctx.gemm_w4a16(x, l, {.out = DType::F32}); },
          sym ? "w4a16 sym" : "w4a16 asym");
    }
  }
  test::expect_clean(ctx);
}

TEST_P(BatchInvariance, GemmF16RowsAreBitIdenticalAloneAndInABatchOf64) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  Context ctx = deterministic_context(GetParam());
  for (int64_t k : {200, 1100, 2100}) {
    const int64_t n = 136;
    auto w = test::random_f16_normal(size_t(n * k), 9, 0.05f);
    Buffer wb = ctx.upload(DType::F16, {n, k}, w.data(), w.size() * 2);
    expect_rows_batch_invariant(
        ctx, k, n, [&](const Buffer& x) { return ctx.gemm_f16(x, wb, {}, {.out = DType::F32}); }, "f16");
  }
  test::expect_clean(ctx);
}

// The fixed launch cannot be overridden by a request for another one: that is an error, not ignored.
TEST_P(BatchInvariance, ConflictingGemmOptionsAreRejected) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  Context ctx = deterministic_context(GetParam());
  auto w = test::random_f16_normal(64 * 256, 1);
  Buffer wb = ctx.upload(DType::F16, {64, 256}, w.data(), w.size() * 2);
  Buffer xb = ctx.upload(DType::F16, {1, 256}, w.data(), 256 * 2);
  EXPECT_EQ(ctx.choose_gemm_path(1), GemmPath::Tiled);
  for (GemmOptions o : {GemmOptions{.path = GemmPath::Gemv}, GemmOptions{.split_k = 2}}) {
    try {
      ctx.gemm_f16(xb, wb, {}, o);
      ADD_FAILURE() << "no error for a launch deterministic mode does not allow";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find("deterministic"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(ctx.gemm_f16(xb, wb, {}, {.path = GemmPath::Tiled, .split_k = 1}));
}

// 64 sequences of ragged lengths (long enough for several decode splits) in one cache, MQA so that a
// lone sequence would be split differently from a batch without the mode.
struct AttentionBatch {
  KvCache cache;
  std::vector<int> seqs, lens;
  int hq = 4, hkv = 1, d = 64;
};

AttentionBatch fill_cache(Context& ctx, KvFormat format, int count) {
  AttentionBatch a;
  std::mt19937 rng(3);
  int total = 0;
  for (int i = 0; i < count; ++i) a.lens.push_back(1100 + int(rng() % 400)), total += a.lens.back();
  a.cache = ctx.create_kv_cache({.num_pages = total / 16 + count, .kv_heads = a.hkv, .head_dim = a.d, .format = format});
  for (int i = 0; i < count; ++i) a.seqs.push_back(a.cache.add_sequence());
  a.cache.extend(a.seqs, a.lens);
  auto k = test::random_f16_normal(size_t(total * a.hkv * a.d), 4), v = test::random_f16_normal(k.size(), 5);
  Buffer kb = ctx.upload(DType::F16, {total, a.hkv, a.d}, k.data(), k.size() * 2);
  Buffer vb = ctx.upload(DType::F16, {total, a.hkv, a.d}, v.data(), v.size() * 2);
  ctx.kv_append(a.cache, 0, a.seqs, a.lens, kb, vb);
  return a;
}

// Attention rows of sequences `pick` with `q_len` queries each: computed with all sequences, then each alone.
void expect_attention_batch_invariant(Context& ctx, AttentionBatch& a, int q_len, const std::string& what) {
  const size_t row = size_t(a.hq * a.d) * size_t(q_len);
  const int count = int(a.seqs.size());
  auto q = test::random_f16_normal(size_t(count) * row, 8);
  std::vector<int> counts(size_t(count), q_len);
  Buffer qb = ctx.upload(DType::F16, {int64_t(count) * q_len, a.hq, a.d}, q.data(), q.size() * 2);
  const std::vector<float> all = ctx.download<float>(ctx.attention(qb, a.cache, 0, a.seqs, counts));
  for (int i : {0, count / 3, count - 1}) {
    Buffer qi = ctx.upload(DType::F16, {q_len, a.hq, a.d}, q.data() + size_t(i) * row, row * 2);
    std::vector<int> one{a.seqs[size_t(i)]}, n1{q_len};
    const std::vector<float> alone = ctx.download<float>(ctx.attention(qi, a.cache, 0, one, n1));
    EXPECT_EQ(std::memcmp(alone.data(), all.data() + size_t(i) * row, row * 4), 0)
        << what << ": sequence " << i << " (" << a.lens[size_t(i)] << " keys) differs alone and in a batch of "
        << count;
  }
}

TEST_P(BatchInvariance, DecodeAttentionRowsAreBitIdenticalAloneAndInABatchOf64) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  Context ctx = deterministic_context(GetParam());
  for (KvFormat f : {KvFormat::F16, KvFormat::Int8}) {
    AttentionBatch a = fill_cache(ctx, f, 64);
    expect_attention_batch_invariant(ctx, a, 1, std::string("decode ") + to_string(f));
  }
  test::expect_clean(ctx);
}

TEST_P(BatchInvariance, PrefillAttentionRowsAreBitIdenticalAloneAndInABatch) {
  LOWBIT_BACKEND_OR_SKIP(GetParam());
  Context ctx = deterministic_context(GetParam());
  AttentionBatch a = fill_cache(ctx, KvFormat::Int4, 8);
  expect_attention_batch_invariant(ctx, a, 5, "prefill int4");
  test::expect_clean(ctx);
}

INSTANTIATE_TEST_SUITE_P(All, BatchInvariance, ::testing::ValuesIn(test::all_backends()), test::backend_param_name);

}  // namespace
