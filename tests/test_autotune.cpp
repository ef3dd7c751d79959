// test_autotune.cpp — the autotuner: pruning by device limits, verification (a deliberately wrong,
// faster candidate never wins), the tuning database (corrupt file, concurrent writers, driver and
// kernel changes: ignored with one warning and left untouched), the lookup order, and a tuned launch
// giving the default's result.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "autotune/budget_split.hpp"
#include "backend/attention_plan.hpp"
#include "autotune/search_space.hpp"
#include "autotune/shipped.hpp"
#include "autotune/tuner.hpp"
#include "autotune/tuning_db.hpp"
#include "autotune/tuning_state.hpp"
#include "backend/gemm_plan.hpp"
#include "bench/runners.hpp"
#include "host/log.hpp"
#include "support/backends.hpp"
#include "support/scoped_env.hpp"
#include "support/temp_dir_test.hpp"

namespace lowbit {
namespace {

using tune::DbEntry;

// Counts lowbit's warnings that contain `needle` while it lives.
class WarningCounter {
 public:
  WarningCounter() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)) { log().sinks().push_back(sink_); }
  ~WarningCounter() { std::erase(log().sinks(), sink_); }
  size_t count(const std::string& needle) const {
    size_t n = 0;
    for (const auto& m : sink_->last_formatted())
      if (m.find("warn") != std::string::npos && m.find(needle) != std::string::npos) ++n;
    return n;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

void spit(const std::filesystem::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

// A small int4 layer and activations on ctx (group 32, symmetric).
struct SmallGemm {
  W4Layer layer;
  Buffer x;
  SmallGemm(Context& ctx, int64_t m, int64_t n, int64_t k, uint32_t seed = 1) {
    auto w = bench::random_f32(size_t(n * k), seed, 0.05f);
    layer = ctx.upload_w4(quantize_w4_rtn(w.data(), n, k, 32, true));
    auto xh = bench::random_f16(size_t(m * k), seed + 1, 1.0f);
    x = ctx.upload(DType::F16, {m, k}, xh.data(), xh.size() * 2);
  }
  std::vector<float> run(Context& ctx) { return ctx.download<float>(ctx.gemm_w4a16(x, layer, {.out = DType::F32})); }
};

DbEntry entry_for(const Context& ctx, const std::string& family, int64_t m, int64_t n, int64_t k, const char* config) {
  DbEntry e;
  e.key = tune::device_key(ctx.device_info());
  e.key.kernel_hash = tune::kernel_hash(tune::family(family), ctx.backend());
  e.key.family = family, e.key.format = "g32", e.key.m_bucket = tune::m_bucket(m), e.key.n = n, e.key.k = k;
  e.config = parse_kernel_config(config);
  e.config_ms = 1, e.default_ms = 2, e.date = "2026-11-27";
  return e;
}

Context cpu_context(const std::filesystem::path& db) {
  return Context::create({.backend = Backend::CPU, .tuning_db = db.string()});
}

// ---- search space ---------------------------------------------------------------------------------
TEST(SearchSpace, PruningRespectsWorkgroupSharedMemoryAndShape) {
  const tune::Limits small{.max_workgroup = 64, .shared_bytes = 16384, .subgroup = 8, .cpu = true};
  const tune::Problem p{.m = 16, .n = 4100, .k = 4096};  // N % 8 != 0
  for (const char* fam : {"gemv_w4", "tiled_w4"}) {
    auto cands = tune::candidates(tune::family(fam), small, p);
    ASSERT_FALSE(cands.empty());
    EXPECT_TRUE(cands[0].empty()) << "the default comes first";
    for (const KernelConfig& c : cands) {
      EXPECT_LE(c.wg, 64) << fam << " " << to_string(c);
      EXPECT_NE(c.cols, 8) << "8 columns do not divide N: " << to_string(c);
      if (c.bm || c.tile) {
        const auto tc = detail::tiled_tile(c.bm ? c.bm : 16, c.tile ? c.tile == 2 : c.stages <= 1, c.stages ? c.stages : 1);
        EXPECT_LE(tc.wg, 64u) << to_string(c);
        EXPECT_LE(tc.shared_bytes(), 16384u) << to_string(c);
      }
    }
  }
  // A roomier device keeps more: the limits, not the space, removed them.
  const tune::Limits big{.max_workgroup = 1024, .shared_bytes = 65536, .subgroup = 32, .cpu = false};
  EXPECT_GT(tune::candidates(tune::family("gemv_w4"), big, {.m = 16, .n = 4096, .k = 4096}).size(),
            tune::candidates(tune::family("gemv_w4"), small, p).size());
  EXPECT_FALSE(tune::family("gemv_w4").violation({.wg = 256}, small, p).empty());
  EXPECT_FALSE(tune::family("gemv_w4").violation({.split = 64}, big, {.m = 1, .n = 64, .k = 1024}).empty());
}

// A lavapipe / PoCL-like device (2 hardware threads) as the launch planners see it.
detail::DeviceProfile cpu_driver_profile() {
  detail::DeviceProfile d;
  d.cpu = true, d.max_workgroup = 1024, d.shared_bytes = 32768, d.threads = 2;
  return d;
}

TEST(SearchSpace, CandidatesThatLaunchTheSameAreCollapsedBeforeTiming) {
  const tune::Limits lim{.max_workgroup = 1024, .shared_bytes = 32768, .subgroup = 8, .cpu = true};
  const detail::DeviceProfile prof = cpu_driver_profile();
  for (const char* name : {"gemv_w4", "gemv_f16", "tiled_w4", "attention_decode", "gemv_w4a8", "tiled_w4a8"}) {
    const tune::Family& f = tune::family(name);
    const bool tiled = std::string(name).rfind("tiled", 0) == 0;
    const tune::Problem p = tiled                                      ? tune::Problem{.m = 64, .n = 4096, .k = 4096}
                            : std::string(name) == "attention_decode" ? tune::Problem{.m = 1, .n = 0, .k = 512}
                                                                      : tune::Problem{.m = 1, .n = 4096, .k = 4096};
    const auto all = tune::candidates(f, lim, p);
    const auto kept = tune::distinct_launches(f, all, p, prof);
    ASSERT_FALSE(kept.empty());
    EXPECT_TRUE(kept[0].empty()) << name << ": the default stays first";
    EXPECT_LT(kept.size(), all.size()) << name;
    for (size_t i = 0; i < kept.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        EXPECT_NE(f.launch(kept[i], p, prof), f.launch(kept[j], p, prof))
            << name << ": " << to_string(kept[i]) << " launches like " << to_string(kept[j]);
    for (const KernelConfig& c : kept)  // and sets no knob to what the planner picks anyway
      for (const tune::Knob& k : f.knobs) {
        KernelConfig fewer = c;
        fewer.*k.member = 0;
        if (fewer != c) {
          EXPECT_NE(f.launch(fewer, p, prof), f.launch(c, p, prof)) << name << ": " << to_string(c);
        }
      }
    for (const KernelConfig& c : all) {  // every dropped config launches like a kept one
      bool like_one = false;
      for (const KernelConfig& k : kept) like_one = like_one || f.launch(c, p, prof) == f.launch(k, p, prof);
      EXPECT_TRUE(like_one) << name << ": " << to_string(c);
    }
  }
  // Knob values the planner picks anyway on a CPU driver are the default's launch.
  const tune::Family& gemv = tune::family("gemv_w4");
  const auto kept = tune::distinct_launches(gemv, tune::candidates(gemv, lim, {.m = 1, .n = 4096, .k = 4096}),
                                            {.m = 1, .n = 4096, .k = 4096}, prof);
  for (const KernelConfig& same : {KernelConfig{.variant = 1}, KernelConfig{.wg = 128}, KernelConfig{.cols = 8},
                                   KernelConfig{.variant = 1, .wg = 128, .cols = 8}})
    EXPECT_EQ(std::find(kept.begin(), kept.end(), same), kept.end()) << to_string(same);
  const tune::Family& decode = tune::family("attention_decode");
  EXPECT_EQ(decode.launch({.keys = 4}, {.m = 1, .k = 512}, prof), decode.launch({}, {.m = 1, .k = 512}, prof));
  EXPECT_EQ(decode.launch({.lanes = 1}, {.m = 1, .k = 512}, prof), decode.launch({}, {.m = 1, .k = 512}, prof))
      << "whole rows are a CPU driver's default";
  detail::DeviceProfile gpu;
  EXPECT_NE(decode.launch({.lanes = 1}, {.m = 1, .k = 512}, gpu), decode.launch({}, {.m = 1, .k = 512}, gpu));
  EXPECT_EQ(decode.launch({.spread = 4}, {.m = 1, .k = 512}, gpu), decode.launch({}, {.m = 1, .k = 512}, gpu))
      << "four head sets are a GPU's default";
  EXPECT_NE(decode.launch({.spread = 1}, {.m = 1, .k = 512}, gpu), decode.launch({}, {.m = 1, .k = 512}, gpu));
  // A CPU device's default head sets depend on the API (whole rows: lavapipe 2, PoCL 1) and on the lanes.
  EXPECT_EQ(decode.launch({.spread = 1}, {.m = 1, .k = 512}, prof), decode.launch({}, {.m = 1, .k = 512}, prof))
      << "one head set is PoCL's default";
  EXPECT_NE(decode.launch({.spread = 2}, {.m = 1, .k = 512}, prof), decode.launch({}, {.m = 1, .k = 512}, prof));
  detail::DeviceProfile lavapipe = prof;
  lavapipe.whole_row_head_sets = detail::attn::kCpuWholeRowHeadSets;
  EXPECT_EQ(decode.launch({.spread = 2}, {.m = 1, .k = 512}, lavapipe), decode.launch({}, {.m = 1, .k = 512}, lavapipe))
      << "two head sets are lavapipe's default with whole rows";
  EXPECT_NE(decode.launch({.spread = 1}, {.m = 1, .k = 512}, lavapipe), decode.launch({}, {.m = 1, .k = 512}, lavapipe));
  EXPECT_EQ(decode.launch({.lanes = 4, .spread = 1}, {.m = 1, .k = 512}, lavapipe),
            decode.launch({.lanes = 4}, {.m = 1, .k = 512}, lavapipe))
      << "lanes per row other than whole rows take one head set";
  EXPECT_NE(decode.launch({.spread = 2}, {.m = 1, .k = 512}, gpu), decode.launch({}, {.m = 1, .k = 512}, gpu));
  EXPECT_EQ(decode.launch({.keys = 4}, {.m = 1, .k = 512}, gpu), decode.launch({}, {.m = 1, .k = 512}, gpu));
  EXPECT_NE(decode.launch({.keys = 4}, {.m = 1, .k = 512, .head_dim = 256}, gpu),
            decode.launch({}, {.m = 1, .k = 512, .head_dim = 256}, gpu))
      << "a GPU's register budget may take fewer keys above head dim 128";
  EXPECT_EQ(decode.launch({.split = 32}, {.m = 1, .k = 512}, prof), decode.launch({.split = 64}, {.m = 1, .k = 512}, prof))
      << "both splits are the whole 32-page context";
  // No launch knobs (the CPU reference): the default alone.
  EXPECT_EQ(tune::distinct_launches(gemv, {KernelConfig{}, KernelConfig{.split = 2}}, {.m = 1, .n = 64, .k = 256},
                                    std::nullopt),
            std::vector<KernelConfig>{KernelConfig{}});
}

TEST(BudgetSplit, CheapestFirstSharesWhatIsLeftAndSkipsWhatCannotRun) {
  auto shape = [](int64_t m, int64_t n, int64_t k) { return tune::OpShape{{m, n, k}}; };
  const auto order = tune::cheapest_first({shape(64, 4096, 4096), shape(1, 4096, 4096), shape(16, 4096, 4096), shape(1, 512, 512)});
  std::vector<std::string> names;
  for (const auto& s : order) names.push_back(s.str());
  EXPECT_EQ(names, (std::vector<std::string>{"1x512x512", "1x4096x4096", "16x4096x4096", "64x4096x4096"}));
  tune::BudgetSplit split(300, 3);
  EXPECT_DOUBLE_EQ(split.next_share(0), 100);
  EXPECT_EQ(split.skip_reason(order[0], 100), "") << "nothing measured yet: the first shape runs";
  split.record(order[1], 30);  // 30 ms at 1 x 4096 x 4096
  EXPECT_DOUBLE_EQ(split.next_share(40), 130) << "what the first shape left flows to the others";
  ASSERT_TRUE(split.predicted_min_s(order[3]).has_value());
  EXPECT_NEAR(*split.predicted_min_s(order[3]), tune::kMinDefaultRuns * 0.030 * 64, 1e-9);
  EXPECT_EQ(split.skip_reason(order[2], 130), "");  // 16x: about 2.4 s
  EXPECT_NE(split.skip_reason(order[3], 5).find("skipped: the default alone needs about 10 s"), std::string::npos)
      << split.skip_reason(order[3], 5);
  EXPECT_DOUBLE_EQ(split.next_share(300), 0);
  // Second pass: 12 s left; 1x4096x4096 needs 0.15 s, 16x 2.4 s, 64x 9.6 s: the first two fit together,
  // all three do not, and the two share what is left.
  EXPECT_EQ(split.second_chance({order[1], order[2], order[3]}, 12), 2u);
  EXPECT_DOUBLE_EQ(split.next_share(288), 6);
}

TEST(SearchSpace, CoopmatStagesArePrunedByTheKernelsSharedMemory) {
  const tune::Problem p{.m = 256, .n = 4096, .k = 4096};
  auto stages_of = [&](uint64_t shared) {
    std::set<int> s;
    for (const char* fam : {"coopmat_w4", "coopmat_f16"})
      for (const KernelConfig& c : tune::candidates(tune::family(fam), {.shared_bytes = shared}, p)) s.insert(c.stages);
    return s;
  };
  EXPECT_EQ(stages_of(49152), (std::set<int>{0, 1, 2, 3, 4}));  // 0: the default depth
  EXPECT_EQ(stages_of(16384), (std::set<int>{0, 1}));            // two 10 KiB buffers + staging do not fit
}

// ---- verification ---------------------------------------------------------------------------------
class AutotuneBackends : public ::testing::TestWithParam<Backend> {};

TEST_P(AutotuneBackends, DeliberatelyWrongFasterCandidateNeverWins) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  const int64_t m = 1, n = 256, k = 1024;
  SmallGemm right(ctx, m, n, k), quarter(ctx, m, n, k / 4);  // the wrong one skips 3/4 of K: faster
  const KernelConfig wrong{.split = 3};
  tune::TuneTask t;
  t.label = "wrong-candidate test";
  t.problem = {.m = m, .n = n, .k = k};
  std::vector<float> y;
  t.run = [&](const KernelConfig& c) { y = c == wrong ? quarter.run(ctx) : right.run(ctx); };
  t.output = [&] { return y; };
  tune::SearchOptions o;
  o.budget_s = 20;
  o.candidates = {KernelConfig{}, wrong, KernelConfig{.split = 2}};
  tune::TuneResult r = tune::tune_task(ctx, t, o);
  EXPECT_NE(r.best, wrong);
  EXPECT_EQ(r.rejected, 1u);
  EXPECT_EQ(r.verified, 2u);
  bool seen = false;
  for (const auto& mres : r.measured)
    if (mres.config == wrong) {
      seen = true;
      EXPECT_FALSE(mres.verified);
      EXPECT_NE(mres.rejected.find("max error"), std::string::npos) << mres.rejected;
    }
  EXPECT_TRUE(seen);
  EXPECT_LE(r.best_ms, r.default_ms);
  test::expect_clean(ctx);
}

// Without the test hook the tuner takes the family's candidates, less those launching the same: on the
// CPU reference (no launch knobs) that is the default alone, on a GPU driver fewer than all.
TEST_P(AutotuneBackends, TunerTimesEachLaunchOnce) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  const int64_t m = 1, n = 256, k = 1024;
  SmallGemm g(ctx, m, n, k);
  std::vector<float> y;
  tune::TuneTask t;
  t.label = "same-launch test";
  t.problem = {.m = m, .n = n, .k = k};
  t.run = [&](const KernelConfig&) { y = g.run(ctx); };
  t.output = [&] { return y; };
  t.tolerance = 2e-3;
  tune::SearchOptions o;
  o.budget_s = GetParam() == Backend::CPU ? 5 : 0.5;
  tune::TuneResult r = tune::tune_task(ctx, t, o);
  const size_t all = tune::candidates(tune::family("gemv_w4"), tune::limits_of(ctx.device_info()), t.problem).size();
  EXPECT_GT(r.same_launch, 0u);
  EXPECT_EQ(r.candidates + r.same_launch, all);
  if (GetParam() == Backend::CPU) {
    EXPECT_EQ(r.candidates, 1u);
    EXPECT_TRUE(r.best.empty());
  }
  test::expect_clean(ctx);
}

// A config from the database reaches the kernel (launch geometry) and gives the default's result.
TEST_P(AutotuneBackends, TunedConfigReachesKernelAndMatchesDefault) {
  LOWBIT_CONTEXT_OR_SKIP(probe, GetParam());
  if (GetParam() == Backend::CPU) GTEST_SKIP() << "the CPU reference has no launch knobs";
  const auto dir = std::filesystem::temp_directory_path() / ("lowbit_tuned_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto db = dir / "tuning.json";
  const int64_t m = 3, n = 512, k = 2048;
  std::vector<float> def, tuned;
  {
    Context ctx = Context::create({.backend = GetParam(), .tuning_db = db.string()});
    SmallGemm g(ctx, m, n, k);
    def = g.run(ctx);
    // Before any tuning: a shipped row where the device has one for this shape (an H100 has), else the heuristic.
    const bool shipped = tune::find_shipped(ctx.device_info(), "gemv_w4", m, n, k) != nullptr;
    EXPECT_EQ(ctx.last_kernel_choice().source, shipped ? "shipped" : "heuristic");
    tune::merge_into_db(db, {entry_for(ctx, "gemv_w4", m, n, k, "variant=2 split=2")});
  }
  Context ctx = Context::create({.backend = GetParam(), .tuning_db = db.string()});
  SmallGemm g(ctx, m, n, k);
  tuned = g.run(ctx);
  EXPECT_EQ(ctx.last_kernel_choice().source, "tuned");
  EXPECT_EQ(ctx.last_gemm_launch().split_k, 2u);
  EXPECT_GT(ctx.last_gemm_launch().k_partitions, 1u) << "variant=2: the K-partitioned GEMV";
  ASSERT_EQ(def.size(), tuned.size());
  float scale = 0;
  for (float v : def) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < def.size(); ++i) EXPECT_NEAR(tuned[i], def[i], 1e-3f * scale) << i;
  test::expect_clean(ctx);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(All, AutotuneBackends, ::testing::ValuesIn(test::all_backends()), test::backend_param_name);

// ---- database -------------------------------------------------------------------------------------
class TuningDb : public test::TempDirTest {};

TEST_F(TuningDb, CorruptFileIsIgnoredWithOneWarningAndLeftUntouched) {
  for (const char* text : {"{not json", "[1, 2]", "{\"version\": 1, \"entries\": 5}", "{\"version\": \"1\", \"entries\": []}"}) {
    const auto db = file(std::string("db") + std::to_string(std::hash<std::string>{}(text)) + ".json");
    spit(db, text);
    WarningCounter w;
    Context ctx = cpu_context(db);
    SmallGemm g(ctx, 1, 64, 256);
    g.run(ctx);
    g.run(ctx);
    EXPECT_EQ(ctx.last_kernel_choice().source, "heuristic") << text;
    EXPECT_EQ(w.count(db.string()), 1u) << text;
    EXPECT_THROW(tune::merge_into_db(db, {entry_for(ctx, "gemv_w4", 1, 64, 256, "split=2")}), Error) << text;
    EXPECT_EQ(slurp(db), text) << "a corrupt database is never overwritten";
  }
}

TEST_F(TuningDb, EntryWithWrongTypesIsSkippedAndKeptOnRewrite) {
  const auto db = file("db.json");
  Context ctx = cpu_context(db);
  tune::merge_into_db(db, {entry_for(ctx, "gemv_w4", 1, 64, 256, "split=2")});
  std::string text = slurp(db);
  text.insert(text.find('[') + 1, "{\"family\": 7},");  // a mistyped entry
  spit(db, text);
  tune::DbFile f = tune::read_db(db);
  EXPECT_EQ(f.entries.size(), 1u);
  EXPECT_NE(f.problem.find("1 entry"), std::string::npos) << f.problem;
  tune::merge_into_db(db, {entry_for(ctx, "gemv_w4", 2, 64, 256, "split=4")});
  EXPECT_NE(slurp(db).find("\"family\": 7"), std::string::npos) << "the unreadable entry stays in the file";
  EXPECT_EQ(tune::read_db(db).entries.size(), 2u);
}

TEST_F(TuningDb, ConcurrentWritersInTwoProcessesLoseNothing) {
  const auto db = file("db.json");
  Context ctx = cpu_context(db);
  constexpr int kPerWriter = 25;
  pid_t pids[2];
  for (int w = 0; w < 2; ++w) {
    pids[w] = ::fork();
    ASSERT_GE(pids[w], 0);
    if (pids[w] == 0) {
      int rc = 0;
      try {
        for (int i = 0; i < kPerWriter; ++i)
          tune::merge_into_db(db, {entry_for(ctx, "gemv_w4", 1, 64 * (1 + w), 256 + 8 * i, "split=2")});
      } catch (...) {
        rc = 1;
      }
      ::_exit(rc);
    }
  }
  for (pid_t p : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(p, &status, 0), p);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  tune::DbFile f = tune::read_db(db);
  EXPECT_TRUE(f.problem.empty()) << f.problem;
  EXPECT_EQ(f.entries.size(), 2u * kPerWriter);
}

TEST_F(TuningDb, OtherDriverAndChangedKernelsAreIgnoredWithOneWarning) {
  const auto db = file("db.json");
  Context writer = cpu_context(db);
  DbEntry other_driver = entry_for(writer, "gemv_w4", 1, 64, 256, "split=2");
  other_driver.key.driver = "0.0.1-other";
  DbEntry old_kernels = entry_for(writer, "gemv_w4", 2, 64, 256, "split=4");
  old_kernels.key.kernel_hash = "0123456789abcdef";
  tune::merge_into_db(db, {other_driver, old_kernels});
  const std::string before = slurp(db);
  WarningCounter w;
  Context ctx = cpu_context(db);
  SmallGemm g(ctx, 1, 64, 256);
  g.run(ctx);
  EXPECT_EQ(ctx.last_kernel_choice().source, "heuristic");
  SmallGemm g2(ctx, 2, 64, 256);
  g2.run(ctx);
  EXPECT_EQ(ctx.last_kernel_choice().source, "heuristic");
  EXPECT_EQ(w.count("2 entries for this device ignored"), 1u);
  EXPECT_EQ(slurp(db), before);
}

TEST_F(TuningDb, KeyCarriesVendorAndDeviceIds) {
  for (Backend b : test::all_backends()) {
    Context ctx;
    std::string why;
    if (!test::make_context(b, ctx, why)) continue;
    const DeviceInfo& d = ctx.device_info();
    const tune::DbKey k = tune::device_key(d);
    EXPECT_EQ(k.vendor_id, d.vendor_id) << to_string(b);
    EXPECT_EQ(k.device_id, d.device_id) << to_string(b);
    EXPECT_TRUE(k.has_ids);
    if (b == Backend::CPU) {
      EXPECT_EQ(d.vendor_id, 0u);
    } else {  // VkPhysicalDeviceProperties::vendorID / CL_DEVICE_VENDOR_ID
      EXPECT_NE(d.vendor_id, 0u) << to_string(b);
    }
  }
  // An entry for another device of the same name (other ids) is not this device's: used never, no warning.
  const auto db = file("db.json");
  Context writer = cpu_context(db);
  DbEntry other = entry_for(writer, "gemv_w4", 1, 64, 256, "split=2");
  other.key.device_id = 0x2330, other.key.vendor_id = 0x10de;
  DbEntry mine = entry_for(writer, "gemv_w4", 1, 64, 512, "split=2");
  tune::merge_into_db(db, {other, mine});
  const std::string text = slurp(db);
  EXPECT_NE(text.find("\"device_id\": 9008"), std::string::npos) << text;
  WarningCounter w;
  Context ctx = cpu_context(db);
  SmallGemm(ctx, 1, 64, 256).run(ctx);
  EXPECT_EQ(ctx.last_kernel_choice().source, "heuristic");
  SmallGemm(ctx, 1, 64, 512).run(ctx);
  EXPECT_EQ(ctx.last_kernel_choice().source, "tuned");
  EXPECT_EQ(w.count(db.string()), 0u);
}

TEST_F(TuningDb, OldFormatEntryWithoutIdsIsIgnoredWithOneWarningAndKeptOnDisk) {
  const auto db = file("db.json");
  Context writer = cpu_context(db);
  tune::merge_into_db(db, {entry_for(writer, "gemv_w4", 1, 64, 256, "split=2"), entry_for(writer, "gemv_w4", 2, 64, 256, "split=4")});
  nlohmann::json j = nlohmann::json::parse(slurp(db));  // as the previous lowbit wrote it: no ids
  for (auto& e : j["entries"]) e.erase("vendor_id"), e.erase("device_id");
  const std::string text = j.dump(1) + "\n";
  ASSERT_EQ(text.find("_id"), std::string::npos) << text;
  spit(db, text);
  {
    WarningCounter w;
    Context ctx = cpu_context(db);
    SmallGemm(ctx, 1, 64, 256).run(ctx);
    EXPECT_EQ(ctx.last_kernel_choice().source, "heuristic") << "an entry without ids is never trusted";
    SmallGemm(ctx, 2, 64, 256).run(ctx);
    EXPECT_EQ(ctx.last_kernel_choice().source, "heuristic");
    EXPECT_EQ(w.count("2 entries for this device ignored (written by an older lowbit"), 1u);
  }
  EXPECT_EQ(slurp(db), text) << "reading leaves the file as it is";
  tune::merge_into_db(db, {entry_for(writer, "gemv_w4", 1, 64, 512, "split=2")});
  tune::DbFile f = tune::read_db(db);
  EXPECT_TRUE(f.problem.empty()) << f.problem;
  ASSERT_EQ(f.entries.size(), 3u) << "the old entries stay on disk";
  EXPECT_EQ(std::count_if(f.entries.begin(), f.entries.end(), [](const DbEntry& e) { return !e.key.has_ids; }), 2);
}

TEST_F(TuningDb, LookupOrderOverrideExactNearestShippedHeuristic) {
  const auto db = file("db.json");
  Context writer = cpu_context(db);
  tune::merge_into_db(db, {entry_for(writer, "gemv_w4", 1, 64, 1024, "split=2"),
                           entry_for(writer, "gemv_w4", 16, 64, 1024, "split=4"),
                           entry_for(writer, "gemv_w4", 4, 128, 1024, "default")});
  Context ctx = cpu_context(db);
  auto choice = [&](int64_t m, int64_t n) {
    SmallGemm g(ctx, m, n, 1024);
    g.run(ctx);
    return ctx.last_kernel_choice();
  };
  EXPECT_EQ(choice(1, 64).config.split, 2);  // exact bucket
  EXPECT_EQ(choice(1, 64).source, "tuned");
  EXPECT_EQ(choice(2, 64).config.split, 2);  // nearest bucket: 1 (one step) before 16 (three)
  EXPECT_EQ(choice(8, 64).config.split, 4);  // nearest: 16
  EXPECT_EQ(choice(4, 128).source, "default");  // tuned, and the default won
  EXPECT_EQ(choice(1, 96).source, "heuristic");  // no entry, no shipped row
  ctx.set_kernel_config(KernelConfig{.split = 8});
  EXPECT_EQ(choice(1, 64).source, "override");
  EXPECT_EQ(choice(1, 64).config.split, 8);
  ctx.set_kernel_config(std::nullopt);
  EXPECT_EQ(choice(1, 64).source, "tuned");

  // Shipped rows: an H100 (as its driver reports it) without database entries.
  DeviceInfo h100;
  h100.backend = Backend::Vulkan, h100.name = "NVIDIA H100 80GB HBM3", h100.type = "discrete", h100.max_workgroup_size = 1024;
  h100.shared_memory_bytes = 49152, h100.subgroup_size = 32, h100.driver_version = "580.159.4";
  detail::TuningState state("", file("empty").string(), h100);
  state.reload();
  KernelChoice a = state.choose("gemv_w4", "g128", {.m = 1, .n = 4096, .k = 4096});
  EXPECT_EQ(a.source, "shipped");
  EXPECT_EQ(a.config.variant, 2);  // K-partitioned at 1 x 4096 x 4096
  KernelChoice b = state.choose("gemv_w4", "g128", {.m = 1, .n = 14336, .k = 4096});
  EXPECT_EQ(b.config.cols, 4);  // the tuned row of 1 x 14336 x 4096 (exact rows come before the catch-all)
  EXPECT_EQ(b.config.wg, 256);
  KernelChoice c = state.choose("gemv_w4", "g128", {.m = 9, .n = 14336, .k = 4096});
  EXPECT_EQ(c.config.split, 8);  // M 5..16 at 14336 x 4096
  KernelChoice d = state.choose("gemv_w4", "g128", {.m = 1, .n = 4096, .k = 11008});
  EXPECT_EQ(d.config.variant, 1);  // a shape without its own row: the staged catch-all
  EXPECT_EQ(state.choose("gemv_f16", "f16", {.m = 1, .n = 4096, .k = 4096}).source, "heuristic");
  // LOWBIT_NO_SHIPPED: the heuristic alone (the baseline `lowbit tune` then measures against)
  KernelChoice h;
  {
    test::ScopedEnv no_shipped("LOWBIT_NO_SHIPPED", "1");  // read when a context's tuning state is made
    detail::TuningState bare("", file("empty").string(), h100);
    bare.reload();
    h = bare.choose("gemv_w4", "g128", {.m = 1, .n = 4096, .k = 4096});
  }
  EXPECT_EQ(h.source, "heuristic");
  EXPECT_TRUE(h.config.empty());
  EXPECT_EQ(state.choose("gemv_w4", "g128", {.m = 1, .n = 4096, .k = 4096}).source, "shipped");
}

// Every shipped row names a real family, parses, and can run on its own shape on its device class (a row
// that cannot would be skipped at lookup: a dead row).
TEST(ShippedRows, EveryRowParsesAndRunsOnItsShape) {
  for (const tune::ShippedRow& r : tune::shipped_rows()) {
    SCOPED_TRACE(std::string(r.device) + " " + r.family + " " + r.config);
    const tune::Family& f = tune::family(r.family);
    const KernelConfig c = parse_kernel_config(r.config);
    const bool cpu = std::string(r.device) == "llvmpipe" || std::string(r.device) == "pthread";
    const tune::Limits l{.max_workgroup = cpu ? 4096u : 1024u, .shared_bytes = cpu ? 65536u : 49152u,
                         .subgroup = cpu ? 8u : 32u, .cpu = cpu};
    const tune::Problem p{.m = r.m_min, .n = r.n ? r.n : 4096, .k = r.k ? r.k : 4096};
    EXPECT_EQ(f.violation(c, l, p), "");
    EXPECT_LE(r.m_min, r.m_max);
  }
}

TEST_F(TuningDb, ConfigThatCannotRunHereIsIgnoredWithAWarning) {
  const auto db = file("db.json");
  Context writer = cpu_context(db);
  tune::merge_into_db(db, {entry_for(writer, "gemv_w4", 1, 60, 256, "cols=8")});  // 8 columns do not divide N = 60
  WarningCounter w;
  Context ctx = cpu_context(db);
  SmallGemm g(ctx, 1, 60, 256);
  g.run(ctx);
  g.run(ctx);
  EXPECT_EQ(ctx.last_kernel_choice().source, "heuristic");
  EXPECT_EQ(w.count("cannot run here"), 1u);
}

TEST(KernelConfigText, RoundTripsAndRejectsBadKnobs) {
  KernelConfig c{.variant = 2, .wg = 256, .split = 4};
  EXPECT_EQ(to_string(c), "variant=2 wg=256 split=4");
  EXPECT_EQ(parse_kernel_config(to_string(c)), c);
  EXPECT_EQ(to_string(KernelConfig{}), "default");
  EXPECT_TRUE(parse_kernel_config("default").empty());
  for (const char* bad : {"colour=2", "wg=", "wg=-1", "wg=12x", "wg"}) EXPECT_THROW(parse_kernel_config(bad), Error) << bad;
}

}  // namespace
}  // namespace lowbit
