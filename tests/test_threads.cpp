// test_threads.cpp — one Context shared by 6 threads on every backend: each thread uploads its own
// activations, runs gemm_w4a16 on a layer all threads share and gemm_f16, fills its own KV cache, runs
// decode attention, quantizes, and downloads; every result must equal, bit for bit, what the same
// context computed for those inputs on one thread. Built with -fsanitize=thread this is the race check.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/backends.hpp"
#include "support/random_inputs.hpp"

using namespace lowbit;

namespace {

constexpr int kThreads = 6, kRounds = 3;
constexpr int64_t kM = 5, kN = 160, kK = 512, kHq = 4, kHkv = 2, kD = 64, kKeys = 300;

struct Inputs {
  std::vector<uint16_t> x, k, v, q;
};

Inputs inputs_of(int t) {
  const uint32_t s = uint32_t(100 * t);
  return {test::random_f16_normal(size_t(kM * kK), s + 1), test::random_f16_normal(size_t(kKeys * kHkv * kD), s + 2),
          test::random_f16_normal(size_t(kKeys * kHkv * kD), s + 3), test::random_f16_normal(size_t(kHq * kD), s + 4)};
}

// What one thread computes: the GEMMs, attention over its own cache, and an MXFP4 round trip.
struct Outputs {
  std::vector<uint16_t> w4, f16;
  std::vector<float> attention, mx;
  bool operator==(const Outputs&) const = default;
};

Outputs work(Context& ctx, const W4Layer& layer, const Buffer& w16, const Inputs& in) {
  Outputs o;
  Buffer x = ctx.upload(DType::F16, {kM, kK}, in.x.data(), in.x.size() * 2);
  o.w4 = ctx.download<uint16_t>(ctx.gemm_w4a16(x, layer));
  o.f16 = ctx.download<uint16_t>(ctx.gemm_f16(x, w16));
  KvCache cache = ctx.create_kv_cache({.num_pages = 24, .kv_heads = int(kHkv), .head_dim = int(kD), .format = KvFormat::Int8});
  std::vector<int> seqs{cache.add_sequence()}, n{int(kKeys)}, one{1};
  cache.extend(seqs, n);
  Buffer k = ctx.upload(DType::F16, {kKeys, kHkv, kD}, in.k.data(), in.k.size() * 2);
  Buffer v = ctx.upload(DType::F16, {kKeys, kHkv, kD}, in.v.data(), in.v.size() * 2);
  ctx.kv_append(cache, 0, seqs, n, k, v);
  Buffer q = ctx.upload(DType::F16, {1, kHq, kD}, in.q.data(), in.q.size() * 2);
  o.attention = ctx.download<float>(ctx.attention(q, cache, 0, seqs, one));
  QTensor mx = ctx.quantize(x, Format::MXFP4, {.packed = true});
  o.mx = ctx.download<float>(ctx.dequantize(mx, DType::F32));
  return o;
}

class Threads : public ::testing::TestWithParam<Backend> {};

TEST_P(Threads, SixThreadsSharingOneContextGetTheSingleThreadedResults) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  const W4Layer layer = ctx.upload_w4(test::random_w4_layer(kN, kK, 128, 1, false));
  const auto w = test::random_f16_normal(size_t(kN * kK), 2, 0.05f);
  const Buffer w16 = ctx.upload(DType::F16, {kN, kK}, w.data(), w.size() * 2);
  std::vector<Inputs> in;
  std::vector<Outputs> want;
  for (int t = 0; t < kThreads; ++t) {
    in.push_back(inputs_of(t));
    want.push_back(work(ctx, layer, w16, in.back()));
  }
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::string> first_error(kThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      try {
        for (int r = 0; r < kRounds; ++r)
          if (!(work(ctx, layer, w16, in[size_t(t)]) == want[size_t(t)])) ++mismatches;
      } catch (const std::exception& e) {
        first_error[size_t(t)] = e.what();
        ++errors;
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(errors.load(), 0) << [&] {
    for (auto& e : first_error)
      if (!e.empty()) return e;
    return std::string();
  }();
  EXPECT_EQ(mismatches.load(), 0) << "of " << kThreads * kRounds << " rounds differed from the single-threaded run";
  test::expect_clean(ctx);
}

// Buffers made on one thread and released on others, while a third keeps the context busy.
TEST_P(Threads, BuffersReleasedOnOtherThreadsWhileTheContextWorks) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  const auto w = test::random_f16_normal(size_t(kN * kK), 2, 0.05f);
  const Buffer w16 = ctx.upload(DType::F16, {kN, kK}, w.data(), w.size() * 2);
  const auto x = test::random_f16_normal(size_t(kM * kK), 3);
  const Buffer xb = ctx.upload(DType::F16, {kM, kK}, x.data(), x.size() * 2);
  const auto want = ctx.download<uint16_t>(ctx.gemm_f16(xb, w16));
  std::vector<Buffer> made;
  for (int i = 0; i < 64; ++i) made.push_back(ctx.gemm_f16(xb, w16));
  std::atomic<int> wrong{0};
  std::thread busy([&] {
    for (int i = 0; i < 8; ++i)
      if (ctx.download<uint16_t>(ctx.gemm_f16(xb, w16)) != want) ++wrong;
  });
  std::vector<std::thread> releasers;
  for (int t = 0; t < 4; ++t) {
    std::vector<Buffer> mine(made.begin() + t * 16, made.begin() + (t + 1) * 16);
    releasers.emplace_back([mine = std::move(mine)]() mutable { mine.clear(); });
  }
  made.clear();
  for (auto& th : releasers) th.join();
  busy.join();
  EXPECT_EQ(wrong.load(), 0);
  test::expect_clean(ctx);
}

INSTANTIATE_TEST_SUITE_P(All, Threads, ::testing::ValuesIn(test::all_backends()), test::backend_param_name);

}  // namespace
