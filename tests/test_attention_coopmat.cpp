// test_attention_coopmat.cpp — the KHR cooperative-matrix prefill (attention_prefill_coopmat_khr.comp) on a device
// that reports VK_KHR_cooperative_matrix: it passes its first-use check and runs (a kernel that failed the check
// would silently leave the scalar prefill in place, which this catches), for every KV format and head dim it has
// a plan for, matching the CPU within the rounding of fp16 operands; head dims without a plan run the scalar
// kernel. Devices without matrix units (lavapipe, PoCL) skip it; `lowbit devices` says which applies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "lowbit/lowbit.hpp"
#include "support/attention_harness.hpp"
#include "support/backends.hpp"

using namespace lowbit;
using namespace lowbit::test::attn;

namespace {

TEST(AttentionCoopmatPrefill, RunsAfterItsFirstUseCheckAndMatchesCpu) {
  LOWBIT_CONTEXT_OR_SKIP(gpu, Backend::Vulkan);
  const std::string prefill = gpu.device_info().prefill_attention;
  if (prefill.rfind("cooperative matrix", 0) != 0)
    GTEST_SKIP() << gpu.device_info().name << " prefill attention: " << prefill;
  Context cpu = Context::create({.backend = Backend::CPU});
  int seed = 0, ran = 0;
  for (KvFormat f : {KvFormat::F16, KvFormat::Int8, KvFormat::Int4, KvFormat::E4M3, KvFormat::E5M2})
    for (int D : {64, 80, 96, 128, 256}) {
      Case c;
      c.fmt = f, c.D = D, c.hkv = 2, c.hq = 6;  // a row tile straddles queries
      c.kv = {1, 37, 100, 64};
      c.sq = {1, 21, 100, 5};
      c.opt.causal = seed % 3 != 1;
      if (seed % 3 == 2) c.opt.window = 19;
      if (seed % 3 == 1) c.opt.softcap = 20.0f;
      Inputs in = make_inputs(c, uint32_t(40 + seed++));
      Result want = run_case(cpu, c, in), got = run_case(gpu, c, in);
      ran += got.kernel == "attention_prefill_coopmat_khr";
      if (f == KvFormat::F16 && D == 128) {  // a plan on every device with a usable shape and 32 KiB
        EXPECT_EQ(got.kernel, "attention_prefill_coopmat_khr") << "the first-use check failed (see the log)";
      }
      EXPECT_TRUE(got.kernel == "attention_prefill_coopmat_khr" || got.kernel == "attention_prefill") << got.kernel;
      float peak = 0, diff = 0;
      for (size_t i = 0; i < want.out.size(); ++i) {
        peak = std::max(peak, std::fabs(want.out[i]));
        diff = std::max(diff, std::fabs(got.out[i] - want.out[i]));
      }
      EXPECT_LE(diff, 1e-2f * peak + 1e-3f) << c.name() << " (" << got.kernel << ")";
    }
  std::printf("[lowbit tests] cooperative-matrix prefill ran for %d of 25 (format, head dim) cases\n", ran);
  test::expect_clean(gpu);
}

}  // namespace
