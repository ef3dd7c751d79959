// test_bench.cpp — the benchmark library (bench/): the bytes/flops formula of every op against
// hand-computed values, Context::copy (the roofline's op) on every backend, and a tiny run_bench per
// backend whose JSON has the schema `lowbit bench --json` promises.
#include <gtest/gtest.h>

#include "backend/tiled_config.hpp"

#include <cstring>

#include "bench/bench.hpp"
#include "support/backends.hpp"

using namespace lowbit;
using namespace lowbit::bench;

TEST(BenchFormulas, Gemm) {
  // f16: 2NK + 2MK + 2MN bytes, 2MNK flops
  Work f = gemm_f16_work(1, 4096, 4096);
  EXPECT_DOUBLE_EQ(f.bytes, 2.0 * 4096 * 4096 + 2 * 4096 + 2 * 4096);
  EXPECT_DOUBLE_EQ(f.flops, 2.0 * 4096 * 4096);
  // w4a16: NK/2 + 2 N K/g (+ N K/g zeros) + activations
  Work w = gemm_w4a16_work(1, 4096, 4096, 128, true);
  EXPECT_DOUBLE_EQ(w.bytes, 8388608.0 + 262144 + 16384);
  EXPECT_DOUBLE_EQ(w.flops, f.flops);
  EXPECT_DOUBLE_EQ(gemm_w4a16_work(1, 4096, 4096, 128, false).bytes, 8388608.0 + 262144 + 131072 + 16384);
  // w4a8: NK/2 + 2 N K/g + MK (int8 x) + 4M (row scales) + 2MN
  Work a8 = gemm_w4a8_work(2, 256, 512, 128);
  EXPECT_DOUBLE_EQ(a8.bytes, 65536.0 + 2048 + 1024 + 8 + 1024);
  EXPECT_DOUBLE_EQ(a8.flops, 2.0 * 2 * 256 * 512);
  // f32 (CLBlast SGEMM): 4 (NK + MK + MN)
  Work s = gemm_f32_work(3, 5, 7);
  EXPECT_DOUBLE_EQ(s.bytes, 4.0 * (35 + 21 + 15));
  EXPECT_DOUBLE_EQ(s.flops, 210.0);
}

TEST(BenchFormulas, Copy) {
  Work c = copy_work(1000);
  EXPECT_DOUBLE_EQ(c.bytes, 2000.0);
  EXPECT_DOUBLE_EQ(c.flops, 0.0);
}

TEST(BenchFormulas, Convert) {
  // values + codes + scales (+ 4 for the NVFP4 tensor scale); the same both directions
  EXPECT_DOUBLE_EQ(convert_work(Format::MXFP4, true, 4, 64, DType::F16, true).bytes, 512.0 + 128 + 8);
  EXPECT_DOUBLE_EQ(convert_work(Format::MXFP4, true, 4, 64, DType::F16, false).bytes, 512.0 + 128 + 8);
  EXPECT_DOUBLE_EQ(convert_work(Format::MXFP4, false, 4, 64, DType::F16, true).bytes, 512.0 + 256 + 8);
  EXPECT_DOUBLE_EQ(convert_work(Format::NVFP4, true, 2, 33, DType::F16, true).bytes, 132.0 + 34 + 6 + 4);
  EXPECT_DOUBLE_EQ(convert_work(Format::E4M3, true, 3, 10, DType::F32, true).bytes, 120.0 + 30);
  EXPECT_DOUBLE_EQ(convert_work(Format::MXFP6_E3M2, true, 1, 10, DType::F16, true).bytes, 20.0 + 9 + 1);
  EXPECT_DOUBLE_EQ(convert_work(Format::E4M3, true, 3, 10, DType::F32, true).flops, 0.0);
}

TEST(BenchFormulas, Attention) {
  EXPECT_DOUBLE_EQ(attention_visible_keys(1, 100), 100.0);  // decode sees every key
  EXPECT_DOUBLE_EQ(attention_visible_keys(4, 10), 7.0 + 8 + 9 + 10);
  EXPECT_DOUBLE_EQ(attention_visible_keys(3, 3), 1.0 + 2 + 3);
  EXPECT_DOUBLE_EQ(kv_row_bytes(KvFormat::F16, 64), 128.0);
  EXPECT_DOUBLE_EQ(kv_row_bytes(KvFormat::Int8, 64), 68.0);
  EXPECT_DOUBLE_EQ(kv_row_bytes(KvFormat::Int4, 64), 36.0);
  EXPECT_DOUBLE_EQ(kv_row_bytes(KvFormat::E4M3, 64), 64.0);
  EXPECT_DOUBLE_EQ(kv_row_bytes(KvFormat::E5M2, 64), 64.0);
  AttentionShape a{2, 1, 100, 8, 2, 64, 16};
  // per sequence: K+V 2 * 100 * 2 * row; q fp16 + out fp32: 8 * 64 * 6
  Work f = attention_work(a, KvFormat::F16);
  EXPECT_DOUBLE_EQ(f.bytes, 2 * (2.0 * 100 * 2 * 128 + 8 * 64 * 6));
  EXPECT_DOUBLE_EQ(f.flops, 2 * (4.0 * 8 * 64 * 100));
  EXPECT_DOUBLE_EQ(attention_work(a, KvFormat::Int4).bytes, 2 * (2.0 * 100 * 2 * 36 + 8 * 64 * 6));
  AttentionShape p{1, 4, 10, 2, 1, 64, 16};  // prefill: causal visible keys
  EXPECT_DOUBLE_EQ(attention_work(p, KvFormat::F16).flops, 4.0 * 2 * 64 * 34);
  // kv_bytes: the K/V part of the bytes alone
  EXPECT_DOUBLE_EQ(attention_kv_bytes(a, KvFormat::Int4), 2 * 2.0 * 100 * 2 * 36);
}

TEST(BenchFormulas, KvAppend) {
  // 2 × tokens × Hkv × (2D fp16 in + row out) + 4 bytes of slot per token; no flops
  Work f = kv_append_work(16, 8, 128, KvFormat::F16);
  EXPECT_DOUBLE_EQ(f.bytes, 2.0 * 16 * 8 * (256 + 256) + 4 * 16);
  EXPECT_DOUBLE_EQ(f.flops, 0.0);
  EXPECT_DOUBLE_EQ(kv_append_work(3, 2, 64, KvFormat::Int4).bytes, 2.0 * 3 * 2 * (128 + 36) + 12);
}

TEST(BenchParse, ShapesAndLists) {
  auto s = parse_shapes("1,2,3;4,5,6");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].m, 4);
  EXPECT_EQ(s[1].k, 6);
  auto p = parse_shapes("7,9", true);
  EXPECT_EQ(p[0].n, 7);
  EXPECT_EQ(p[0].k, 9);
  EXPECT_THROW(parse_shapes("7,9"), Error);
  EXPECT_THROW(parse_shapes("1,0,3"), Error);
  EXPECT_THROW(parse_shapes("1,2,3x"), Error);
  EXPECT_EQ(parse_int_list("1,16", "--batch"), (std::vector<int>{1, 16}));
  EXPECT_THROW(parse_int_list("1,-2", "--batch"), Error);
  EXPECT_NO_THROW(check_op("w4a8"));
  EXPECT_THROW(check_op("nope"), Error);
  EXPECT_NO_THROW(check_op("w4a16"));
}

class BenchBackends : public ::testing::TestWithParam<Backend> {};

// A w4a16 run of the given shapes with a 1 MiB copy roofline and no calibration GEMM.
static Options tiny_w4a16_run(std::vector<GemmShape> shapes, int warmup, int iters) {
  Options o;
  o.op = "w4a16";
  o.shapes = std::move(shapes);
  o.warmup = warmup, o.iters = iters;
  o.copy_bytes = 1 << 20;
  o.peak_shape = {};
  return o;
}

TEST_P(BenchBackends, CopyOp) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  std::vector<uint8_t> h(100003);
  for (size_t i = 0; i < h.size(); ++i) h[i] = uint8_t(i * 7 + 3);
  Buffer src = ctx.upload(DType::U8, {int64_t(h.size())}, h.data(), h.size());
  Buffer dst = ctx.alloc(DType::U8, {int64_t(h.size())});
  ctx.reset_timing();
  ctx.copy(src, dst);
  EXPECT_GT(ctx.timing().device_ms, 0.0);
  EXPECT_EQ(ctx.download<uint8_t>(dst), h);
  Buffer small = ctx.alloc(DType::U8, {10});
  try {
    ctx.copy(src, small);
    FAIL() << "size mismatch accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
  }
  test::expect_clean(ctx);
}

TEST_P(BenchBackends, TinyRunHasTheSchema) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  Options o = tiny_w4a16_run({{2, 64, 128}, {1, 32, 256}}, 1, 3);
  Report rep = run_bench(ctx, o);
  ojson j = report_json(rep);
  for (const char* k : {"backend", "name", "vendor", "driver"}) EXPECT_TRUE(j["device"][k].is_string()) << k;
  ASSERT_EQ(j["results"].size(), 5u);  // copy + (f16, w4a16) x 2
  EXPECT_EQ(j["results"][0]["op"], "copy");
  EXPECT_DOUBLE_EQ(j["results"][0]["bytes"].get<double>(), 2.0 * (1 << 20));
  for (const auto& r : j["results"]) {
    for (const char* k : {"op", "backend", "m", "n", "k", "config", "config_source", "median_ms", "p20_ms", "p80_ms",
                          "bytes", "flops", "gbps", "tflops", "pct_of_peak_bw", "bound", "speedup_vs_f16"})
      EXPECT_TRUE(r.contains(k)) << k << " in " << r.dump();
    ASSERT_FALSE(r.contains("error")) << r.dump();
    double med = r["median_ms"], p20 = r["p20_ms"], p80 = r["p80_ms"];
    EXPECT_LE(p20, med);
    EXPECT_LE(med, p80);
    EXPECT_NEAR(r["gbps"].get<double>(), r["bytes"].get<double>() / med / 1e6, 1e-9 * r["gbps"].get<double>());
    if (r["op"] != "copy") {
      EXPECT_TRUE(r["speedup_vs_f16"].is_number()) << r.dump();
    }
  }
  EXPECT_DOUBLE_EQ(j["results"][1]["bytes"].get<double>(), gemm_f16_work(2, 64, 128).bytes);
  EXPECT_DOUBLE_EQ(j["results"][2]["bytes"].get<double>(), gemm_w4a16_work(2, 64, 128, 128, true).bytes);
  EXPECT_DOUBLE_EQ(j["results"][1]["speedup_vs_f16"].get<double>(), 1.0);
  // each w4a16 row's speed-up comes from runs alternated with its fp16 GEMM; the fp16 row is its own
  EXPECT_FALSE(j["results"][1]["f16_paired"].get<bool>());
  EXPECT_TRUE(j["results"][2]["f16_paired"].get<bool>());
  EXPECT_TRUE(j["results"][4]["f16_paired"].get<bool>());
  EXPECT_NEAR(j["results"][0]["pct_of_peak_bw"].get<double>(), 100.0, 1e-9);
  test::expect_clean(ctx);
}

// Every GEMM row carries the launch geometry of its run; --pipeline serial really runs stages = 1 and
// --pipeline both pairs the runs (no pair on the GEMV path, M <= 16).
TEST_P(BenchBackends, GemmRowsCarryTheirLaunchGeometryAndThePipelinePair) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  Options o = tiny_w4a16_run({{2, 64, 256}, {40, 64, 256}}, 0, 2);
  const bool gpu = GetParam() != Backend::CPU;
  for (Pipeline mode : {Pipeline::Pipelined, Pipeline::Serial, Pipeline::Both}) {
    o.pipeline = mode;
    ojson j = report_json(run_bench(ctx, o));
    EXPECT_EQ(j["settings"]["pipeline"], to_string(mode));
    for (const auto& r : j["results"]) {
      if (r["op"] == "copy") {
        EXPECT_FALSE(r.contains("workgroups")) << r.dump();
        continue;
      }
      ASSERT_FALSE(r.contains("error")) << r.dump();
      for (const char* k : {"kernel", "workgroups", "invocations_per_workgroup", "shared_bytes", "stages", "split_k"})
        ASSERT_TRUE(r.contains(k) && !r[k].is_null()) << k << " in " << r.dump();
      EXPECT_GE(r["split_k"].get<int>(), 1) << r.dump();
      if (gpu) {
        EXPECT_GT(r["workgroups"].get<uint64_t>(), 0u) << r.dump();
        EXPECT_GT(r["invocations_per_workgroup"].get<uint32_t>(), 0u) << r.dump();
        EXPECT_GT(r["shared_bytes"].get<uint32_t>(), 0u) << r.dump();
      }
      const bool gemv = r["m"].get<int>() <= 16;
      const bool w4 = r["op"] == "w4a16";
      int want_stages = gemv ? 1 : (w4 && mode == Pipeline::Serial) ? 1 : -1;
      if (want_stages > 0) {
        EXPECT_EQ(r["stages"].get<int>(), want_stages) << r.dump();
      } else if (gpu) {  // the tiled path's default depth: 1 on CPU drivers (fastest there), 3 on GPUs
        EXPECT_EQ(r["stages"].get<int>(), ctx.device_info().type == "cpu" ? lowbit::detail::kTiledStagesCpu
                                                                    : lowbit::detail::kTiledStagesGpu)
            << r.dump();
      }
      const bool paired = w4 && mode == Pipeline::Both;
      EXPECT_EQ(r.contains("dequant_hidden_pct"), paired) << r.dump();
      if (!paired) continue;
      if (gemv) {
        EXPECT_TRUE(r["dequant_hidden_pct"].is_null()) << r.dump();
        continue;
      }
      double serial = r["serial_ms"], pipelined = r["median_ms"];
      EXPECT_NEAR(r["dequant_hidden_pct"].get<double>(), 100 * (serial - pipelined) / serial, 1e-9) << r.dump();
    }
  }
  // The serial run passes stages = 1 down to the backend.
  o.shapes = {{40, 64, 256}};
  o.pipeline = Pipeline::Serial;
  run_bench(ctx, o);
  EXPECT_EQ(ctx.last_gemm_launch().stages, 1u);
  test::expect_clean(ctx);
}

// --flush-mib: a read of that many bytes (an fp16 GEMV over 4096-wide rows) ahead of each timed run; the
// rows are still the timed op's (results, launch geometry), and the JSON records the bytes read.
TEST_P(BenchBackends, FlushedRunReportsTheTimedOpsOwnRows) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  Options o = tiny_w4a16_run({{1, 64, 256}}, 0, 2);
  o.flush_bytes = (1 << 20) + 100;  // whole 8 KiB rows: 128 of them
  ojson j = report_json(run_bench(ctx, o));
  EXPECT_EQ(j["settings"]["flush_bytes"].get<uint64_t>(), uint64_t(1) << 20);
  ASSERT_EQ(j["results"].size(), 3u);  // copy, f16, w4a16
  for (const auto& r : j["results"]) ASSERT_FALSE(r.contains("error")) << r.dump();
  const auto& w4 = j["results"][2];
  EXPECT_EQ(w4["op"], "w4a16");
  EXPECT_EQ(w4["n"].get<int64_t>(), 64);
  EXPECT_EQ(w4["config"].get<std::string>().rfind("gemv_w4", 0), 0u) << "the flush's fp16 GEMV is not the row's: " << w4.dump();
  EXPECT_EQ(ctx.last_kernel_choice().family, "gemv_w4") << "the timed op ran last";
  test::expect_clean(ctx);
}

// Attention: fp16 is timed alone (its row), then again in turn with each other format's runs; those rows'
// speed-ups come from the paired runs (f16_paired), the fp16 row's from itself.
TEST_P(BenchBackends, AttentionRowsPairEachFormatWithFp16) {
  LOWBIT_CONTEXT_OR_SKIP(ctx, GetParam());
  Options o;
  o.op = "attention";
  o.context = {48};
  o.q_heads = 4, o.kv_heads = {2}, o.head_dim = 64;
  o.kv_formats = {"int8", "fp16", "int4"};
  o.warmup = 0, o.iters = 2;
  o.copy_bytes = 1 << 20;
  o.peak_shape = {};
  ojson j = report_json(run_bench(ctx, o));
  ASSERT_EQ(j["results"].size(), 4u);  // copy, fp16, int8, int4
  std::vector<std::string> order;
  for (size_t i = 1; i < 4; ++i) {
    const auto& r = j["results"][i];
    ASSERT_FALSE(r.contains("error")) << r.dump();
    order.push_back(r["kv_format"]);
    EXPECT_EQ(r["f16_paired"].get<bool>(), i > 1) << r.dump();
    EXPECT_GT(r["speedup_vs_fp16_kv"].get<double>(), 0.0) << r.dump();
  }
  EXPECT_EQ(order, (std::vector<std::string>{"fp16", "int8", "int4"}));
  EXPECT_DOUBLE_EQ(j["results"][1]["speedup_vs_fp16_kv"].get<double>(), 1.0);
  test::expect_clean(ctx);
}

INSTANTIATE_TEST_SUITE_P(All, BenchBackends, ::testing::ValuesIn(test::all_backends()), test::backend_param_name);
