// test_tiled_config.cpp — the tiled GEMM's launch plan (backend/tiled_config.hpp) as a pure function:
// M tiles that follow M, tiles that fit the devices (an H100-class GPU: 128-256 invocations and at
// most 48 KiB of shared memory; lavapipe: 32 KiB), register tiles of at least 32 accumulators, the
// pipeline depth asked for, and split-K slices of whole K steps.
#include <gtest/gtest.h>

#include "backend/tiled_config.hpp"

using lowbit::detail::tiled_config;
using lowbit::detail::tiled_k_split;
using lowbit::detail::TiledConfig;

TEST(TiledConfig, MTileFollowsM) {
  for (bool cpu : {false, true}) {
    EXPECT_EQ(tiled_config(17, 4096, 4096, true, cpu, 0).bm, 32u);
    EXPECT_EQ(tiled_config(32, 4096, 4096, true, cpu, 0).bm, 32u);
    EXPECT_EQ(tiled_config(16, 4096, 4096, true, cpu, 0).bm, 16u);
    EXPECT_EQ(tiled_config(33, 4096, 4096, true, cpu, 0).bm, 64u);
    EXPECT_EQ(tiled_config(256, 4096, 4096, false, cpu, 0).bm, 64u);
  }
}

TEST(TiledConfig, TilesFitTheDeviceAndTheKernelsConstraints) {
  for (bool cpu : {false, true})
    for (uint64_t m : {1, 16, 17, 32, 33, 64, 256, 4096})
      for (bool w4 : {false, true})
        for (int stages : {0, 1, 2, 3, 4}) {
          TiledConfig c = tiled_config(m, 4096, 4096, w4, cpu, stages);
          std::string what = "m=" + std::to_string(m) + (cpu ? " cpu" : " gpu") + " stages " + std::to_string(stages);
          EXPECT_EQ(c.wg, (c.bm / c.tm) * (c.bn / c.tn)) << what;
          EXPECT_EQ(c.bm % c.tm, 0u) << what;
          EXPECT_EQ(c.bn % c.tn, 0u) << what;
          EXPECT_EQ(c.tn % 4, 0u) << what;  // column quads
          EXPECT_EQ(c.bk % 8, 0u) << what;  // whole int4 words
          EXPECT_GE(c.tm * c.tn, 32u) << what;
          EXPECT_GE(c.bn / c.tn, 8u) << what;  // a quarter warp shares one accumulator row (As broadcast)
          EXPECT_LE(c.shared_bytes(), cpu ? 32u * 1024 : 48u * 1024) << what;
          EXPECT_GE(c.wg, cpu ? 8u : 128u) << what;  // a CPU driver's SIMD width at least
          EXPECT_LE(c.wg, 256u) << what;
        }
}

TEST(TiledConfig, StagesAsRequestedElseTheDevicesDefault) {
  EXPECT_EQ(tiled_config(64, 4096, 4096, true, false, 0).stages, uint32_t(lowbit::detail::kTiledStagesGpu));
  EXPECT_EQ(tiled_config(64, 4096, 4096, true, true, 0).stages, 1u);
  for (int s : {1, 2, 3, 4}) EXPECT_EQ(tiled_config(64, 4096, 4096, true, false, s).stages, uint32_t(s));
  // the serial variant keeps one shared buffer, the pipelined ones two
  TiledConfig serial = tiled_config(64, 4096, 4096, true, false, 1), piped = tiled_config(64, 4096, 4096, true, false, 3);
  EXPECT_EQ(2 * serial.shared_bytes(), piped.shared_bytes());
}

TEST(TiledConfig, SplitKSlicesAreWholeStepsOfEveryDepth) {
  for (bool cpu : {false, true})
    for (int stages : {1, 2, 3, 4}) EXPECT_EQ(lowbit::detail::kTiledSliceRows % tiled_config(64, 64, 4096, true, cpu, stages).bk, 0u);
  uint32_t splits = 0;
  EXPECT_EQ(tiled_k_split(4096, 3, splits), 1376u);  // 128 units of 32 rows -> 43 per slice
  EXPECT_EQ(splits, 3u);
  EXPECT_EQ(tiled_k_split(1000, 2, splits), 512u);
  EXPECT_EQ(splits, 2u);
  EXPECT_EQ(tiled_k_split(70, 3, splits), 32u);  // three units: three slices, the last one short
  EXPECT_EQ(splits, 3u);
  EXPECT_EQ(tiled_k_split(20, 3, splits), 32u);  // one unit: one slice
  EXPECT_EQ(splits, 1u);
}
