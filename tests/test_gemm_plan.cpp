// test_gemm_plan.cpp — the launch planner (backend/gemm_plan.hpp) on profiles of real GPUs, from their
// published specifications: every plan is well formed (slices cover K exactly, the shared memory fits,
// vector loads only where N allows) and covers the device (enough workgroups for two per compute unit
// where the shape has the work), and CPU drivers keep the chunked plan they were tuned with.
#include <gtest/gtest.h>

#include "backend/gemm_plan.hpp"

namespace {

using lowbit::detail::DeviceProfile;
using lowbit::detail::GemvPlan;
using lowbit::detail::plan_gemv;
using lowbit::detail::plan_tiled_split;

struct NamedProfile {
  const char* name;
  DeviceProfile d;
};

// compute units, max invocations, shared bytes per workgroup (Vulkan limits as drivers report).
// With the K-partitioned GEMV (DeviceProfile::gemv_partitions); GpuDefault() below turns it off, lanes()
// asks for the lane-reduced one. Last: the subgroup size where full subgroups may shuffle.
const NamedProfile kGpus[] = {
    {"H100 SXM (132 SMs)", {false, 132, 1024, 49152, 1, true, 32}},
    {"RX 7900 XTX (96 CUs, wave64)", {false, 96, 1024, 65536, 1, true, 64}},
    {"Arc A770 (32 Xe-cores)", {false, 32, 1024, 65536, 1, true, 32}},
    {"Adreno 750 (6 SPs, wave64)", {false, 6, 1024, 32768, 1, true, 64}},
    {"unknown GPU (no count)", {false, 0, 256, 32768, 1, true, 0}},
};
DeviceProfile gpu_default(DeviceProfile d) {
  d.gemv_partitions = false;
  return d;
}
DeviceProfile lanes(DeviceProfile d) {
  d.gemv_partitions = false, d.gemv_lanes = true;
  return d;
}
const DeviceProfile kCpu{true, 0, 1024, 65536, 2};  // lavapipe / PoCL on 2 threads

struct Shape {
  uint64_t m, n, k;
};
const Shape kShapes[] = {{1, 4096, 4096}, {1, 14336, 4096}, {1, 4096, 14336}, {4, 4096, 4096}, {16, 4096, 4096},
                         {3, 1000, 72},   {1, 8, 8},        {16, 4100, 520},  {2, 11008, 4096}, {1, 36, 4104},
                         {1, 72, 36},     {2, 72, 96},      {16, 75, 100}};

void expect_well_formed(const GemvPlan& p, const DeviceProfile& d, const Shape& s, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_GE(p.mt, s.m);
  EXPECT_LE(p.mt, 16u);
  EXPECT_EQ(p.k_split % 8, 0u);
  EXPECT_GE(uint64_t(p.k_split) * p.splits, s.k) << "the slices must cover K";
  EXPECT_LT(uint64_t(p.k_split) * (p.splits - 1), s.k) << "no empty slice";
  EXPECT_TRUE(p.nc == 1 || s.n % p.nc == 0) << "vector loads of " << p.nc << " words need N % " << p.nc << " == 0";
  EXPECT_EQ(p.wg % p.kp, 0u);
  EXPECT_LE(p.wg, std::max<uint32_t>(d.max_workgroup, 32));
  EXPECT_EQ(p.kc % 4, 0u);
  if (p.lr) {
    EXPECT_FALSE(p.xs);
    uint64_t ct = p.wg / p.kp, slots = p.kp / (p.sg ? std::min<uint64_t>(p.sg / ct, p.mt * p.nc) : 1), stride = slots > 1 ? slots + 1 : 1;
    EXPECT_EQ(p.kp & (p.kp - 1), 0u) << "a pairwise tree over the partitions";
    EXPECT_EQ(ct & (ct - 1), 0u) << "partition lanes of a subgroup at lane bits CT, 2CT, ...";
    EXPECT_EQ(p.mt % p.rb, 0u);
    EXPECT_GE(uint64_t(p.mt) * p.kc, uint64_t(p.rb) * p.nc * ct * stride) << "a pass's slots fit the shared array";
    EXPECT_LE(p.shared_bytes(), 16384u + 64u);
    if (p.sg) {
      EXPECT_EQ(p.wg % p.sg, 0u) << "full subgroups";
      EXPECT_GT(p.sg, ct) << "shuffles only where a subgroup holds several partitions";
      EXPECT_EQ(p.sg, d.shuffle_lanes);
    }
  } else if (p.kp > 1) {
    EXPECT_FALSE(p.xs);
    EXPECT_GE(uint64_t(p.mt) * p.kc, uint64_t(p.rb) * p.wg * p.nc) << "the partition sums must fit the shared array";
    EXPECT_LE(p.rb * (p.wg / p.kp) * p.nc, p.wg) << "an invocation per output of a reduction pass";
    EXPECT_EQ(p.kp & (p.kp - 1), 0u) << "partitions split evenly among the reduction's invocations";
    EXPECT_LE(p.shared_bytes(), 16384u + 64u);
    EXPECT_LE(p.kp, lowbit::detail::kGemvMaxPartitions);
  }
  EXPECT_LE(p.shared_bytes(), d.shared_bytes);
  uint64_t ct = p.wg / p.kp;
  EXPECT_EQ(p.groups_n, (s.n + ct * p.nc - 1) / (ct * p.nc));
}

TEST(GemmPlan, GemvPlansAreWellFormedOnEveryProfileAndShape) {
  for (const auto& g : kGpus)
    for (const auto& s : kShapes)
      expect_well_formed(plan_gemv(g.d, true, s.m, s.n, s.k, 0), g.d, s,
                         std::string(g.name) + " " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k));
  for (const auto& s : kShapes) expect_well_formed(plan_gemv(kCpu, true, s.m, s.n, s.k, 0), kCpu, s, "cpu");
  for (const auto& g : kGpus)
    for (const auto& s : kShapes) expect_well_formed(plan_gemv(gpu_default(g.d), true, s.m, s.n, s.k, 0), g.d, s, "default");
  for (const auto& g : kGpus)
    for (const auto& s : kShapes) {
      GemvPlan p = plan_gemv(lanes(g.d), true, s.m, s.n, s.k, 0);
      EXPECT_TRUE(p.lr);
      expect_well_formed(p, g.d, s, std::string("lanes ") + g.name + " " + std::to_string(s.m) + "x" +
                                        std::to_string(s.n) + "x" + std::to_string(s.k));
    }
}

// The lane-reduced plan on an H100 at M = 1: the columns alone give >= 2 workgroups per SM, so no
// split (no reduce dispatch); 16-byte loads, 4 in flight (64 bytes) per invocation; the partition sums
// shuffled over 32-lane subgroups, the shared-memory stage holding one slot per subgroup.
TEST(GemmPlan, LanesOnH100AtM1NeedNoReduceDispatch) {
  const DeviceProfile h100 = lanes(kGpus[0].d);
  for (Shape s : {Shape{1, 4096, 4096}, Shape{1, 14336, 4096}, Shape{1, 4096, 14336}}) {
    SCOPED_TRACE(std::to_string(s.n) + "x" + std::to_string(s.k));
    GemvPlan p = plan_gemv(h100, true, s.m, s.n, s.k, 0);
    EXPECT_EQ(p.splits, 1u) << "no second dispatch";
    EXPECT_GE(p.groups_n, 2u * 132u) << "the columns alone cover every SM twice";
    EXPECT_EQ(p.nc, 4u);
    EXPECT_GE(p.u * p.nc * 4, 64u) << "bytes of weight loads in flight per invocation";
    EXPECT_EQ(p.sg, 32u);
    EXPECT_EQ(p.variant(), 3u);
  }
}

// At M = 8..16 the lane-reduced plan reads wider column sets (X is re-read per set) and splits K only
// as far as the columns fall short of two workgroups per compute unit.
TEST(GemmPlan, LanesSplitOnlyWhereTheColumnsFallShort) {
  for (const auto& g : kGpus) {
    uint64_t cu = g.d.compute_units ? g.d.compute_units : 128;
    for (uint64_t m : {1u, 4u, 8u, 16u})
      for (uint64_t n : {4096u, 14336u}) {
        GemvPlan p = plan_gemv(lanes(g.d), true, m, n, 4096, 0);
        SCOPED_TRACE(std::string(g.name) + " M=" + std::to_string(m) + " N=" + std::to_string(n));
        EXPECT_GE(p.workgroups(), 2 * cu);
        if (p.groups_n >= 2 * cu) {
          EXPECT_EQ(p.splits, 1u);
        }
        if (m > 4) {
          EXPECT_GE((p.wg / p.kp) * p.nc * 4, 64u) << "at least 64-byte row segments";
        }
      }
  }
  EXPECT_EQ(plan_gemv(lanes(kGpus[0].d), true, 16, 4096, 4096, 0).splits, 2u) << "256 column sets on 132 SMs";
}

// GPUs pick the lane-reduced plan by default only at M = 1 where it needs no split and each partition
// issues its loads in at most two batches (1x4096x4096 on an H100); the staged plan elsewhere.
TEST(GemmPlan, GpusPickLanesAtM1WhereThePartitionedFormWon) {
  const DeviceProfile h100 = gpu_default(kGpus[0].d);
  EXPECT_EQ(plan_gemv(h100, true, 1, 4096, 4096, 0).variant(), 3u);
  EXPECT_EQ(plan_gemv(h100, true, 1, 14336, 4096, 0).variant(), 1u);
  EXPECT_EQ(plan_gemv(h100, true, 1, 4096, 14336, 0).variant(), 1u);
  EXPECT_EQ(plan_gemv(h100, true, 16, 4096, 4096, 0).variant(), 1u);
  EXPECT_EQ(plan_gemv(kCpu, true, 1, 4096, 4096, 0).variant(), 1u) << "CPU drivers keep the staged plan";
  lowbit::KernelConfig c;
  c.variant = 1;
  EXPECT_EQ(plan_gemv(h100, true, 1, 4096, 4096, 0, c).variant(), 1u) << "the variant knob overrides";
}

// By default a GPU runs the staged plan (measured faster on an H100), split to about two workgroups per
// compute unit where K allows slices of at least one X chunk; one column per invocation above M = 1 and
// four at M = 1 (what `lowbit tune` picked on an H100), not the CPU drivers' eight.
TEST(GemmPlan, GpusDefaultToTheStagedPlanSplitForTheDevice) {
  const DeviceProfile h100 = gpu_default(kGpus[0].d);
  GemvPlan p = plan_gemv(h100, true, 2, 4096, 4096, 0);
  EXPECT_TRUE(p.xs);
  EXPECT_EQ(p.kp, 1u);
  EXPECT_EQ(p.nc, 1u);
  EXPECT_EQ(p.groups_n, 32u) << "4096 columns, 128 per workgroup";
  EXPECT_EQ(p.splits, 9u) << "about 2 x 132 workgroups";
  lowbit::KernelConfig staged;
  staged.variant = 1;
  EXPECT_EQ(plan_gemv(h100, true, 1, 14336, 4096, 0, staged).nc, 4u);
  EXPECT_EQ(plan_gemv(kCpu, true, 2, 4096, 4096, 0).nc, 8u) << "CPU drivers keep 8 columns";
  GemvPlan q = plan_gemv(h100, true, 1, 4096, 65536, 0);
  EXPECT_GE(q.workgroups(), 2u * 132u);
  // the loads of several word rows in flight on GPUs (one on CPU drivers), the knob `u` for every form
  EXPECT_EQ(p.u, lowbit::detail::kGemvLoadsGpu);
  EXPECT_EQ(plan_gemv(kCpu, true, 2, 4096, 4096, 0).u, 1u);
  for (int variant : {1, 2, 3}) {
    lowbit::KernelConfig c;
    c.variant = variant, c.u = 8;
    EXPECT_EQ(plan_gemv(h100, true, 4, 4096, 4096, 0, c).u, 8u) << "variant " << variant;
    EXPECT_EQ(plan_gemv(kCpu, true, 4, 4096, 4096, 0, c).u, 8u) << "variant " << variant;
  }
}

TEST(GemmPlan, H100GemvAtM1PutsTwoWorkgroupsOnEverySm) {
  const DeviceProfile& h100 = kGpus[0].d;
  for (Shape s : {Shape{1, 4096, 4096}, Shape{1, 14336, 4096}, Shape{1, 4096, 14336}}) {
    GemvPlan p = plan_gemv(h100, true, s.m, s.n, s.k, 0);
    EXPECT_GE(p.workgroups(), 2u * 132u) << s.n << "x" << s.k;
    EXPECT_EQ(p.nc, 4u) << "16-byte loads";
    EXPECT_FALSE(p.xs) << "no X-staging barrier before the first weight load";
    // each partition keeps at least two 16-byte loads per slice, and a subgroup reads >= 32-byte segments
    EXPECT_GE((p.k_split / 8) / p.kp, 2u);
    EXPECT_GE((p.wg / p.kp) * p.nc * 4, 32u);
    // loads in flight across the device: at least ~2 MB at 4 words per partition
    EXPECT_GE(p.workgroups() * p.wg * 16 * 4, uint64_t(2) << 20);
  }
}

TEST(GemmPlan, EveryGpuProfileIsCoveredAtSmallM) {
  for (const auto& g : kGpus) {
    uint64_t cu = g.d.compute_units ? g.d.compute_units : 128;
    for (uint64_t m : {1u, 8u, 16u}) {
      GemvPlan p = plan_gemv(g.d, true, m, 4096, 4096, 0);
      EXPECT_GE(p.workgroups(), 2 * cu) << g.name << " M=" << m;
    }
  }
}

TEST(GemmPlan, CpuDriversKeepTheChunkedPlan) {
  GemvPlan p = plan_gemv(kCpu, true, 1, 4096, 4096, 0);
  EXPECT_TRUE(p.xs);
  EXPECT_EQ(p.kp, 1u);
  EXPECT_EQ(p.wg, 128u);
  EXPECT_EQ(p.nc, 8u);
  EXPECT_EQ(p.kc, lowbit::detail::kGemvChunk);
  EXPECT_EQ(p.k_split % lowbit::detail::kGemvChunk, 0u);
  EXPECT_EQ(p.workgroups(), 8u) << "about 4 workgroups per thread";
}

TEST(GemmPlan, RequestedSplitsAreHonoured) {
  for (int req : {1, 3, 5}) {
    GemvPlan g = plan_gemv(kGpus[0].d, true, 1, 4096, 4096, req);
    EXPECT_EQ(g.splits, uint32_t(req));
    GemvPlan c = plan_gemv(kCpu, true, 1, 4096, 4096, req);
    EXPECT_EQ(c.splits, uint32_t(req));
  }
}

TEST(GemmPlan, TiledSplitKCoversTheGpuAndLeavesCpuDriversAlone) {
  uint32_t splits = 0;
  // H100, M=64 at 4096x4096 with 64x64 tiles: 64 tiles on 132 SMs -> split K
  uint32_t k_split = plan_tiled_split(kGpus[0].d, 64, 4096, 0, splits);
  EXPECT_GE(uint64_t(splits) * 64, 2u * 132u);
  EXPECT_EQ(k_split % 16, 0u);
  EXPECT_GE(uint64_t(k_split) * splits, 4096u);
  EXPECT_GE(k_split, 8u * 16u) << "each slice keeps >= 8 K steps";
  // enough tiles already: no split
  plan_tiled_split(kGpus[0].d, 4096, 4096, 0, splits);
  EXPECT_EQ(splits, 1u);
  plan_tiled_split(kCpu, 64, 4096, 0, splits);
  EXPECT_EQ(splits, 1u);
  plan_tiled_split(kCpu, 64, 4096, 4, splits);
  EXPECT_EQ(splits, 4u) << "a request is honoured everywhere";
}

}  // namespace

namespace {

// The lane-reduced form's rounding chain: 6 roundings of one word's products and its scale, one per word
// of a partition's run, one per pairwise level over the partitions, the slices, the bias.
TEST(GemmPlan, LaneReducedRoundingDepthFollowsItsChain) {
  using lowbit::detail::w4_gemv_rounding_depth;
  EXPECT_EQ(w4_gemv_rounding_depth(128, 4096, 1, 32, true), 6u + 16u + 5u + 1u);  // 512 words / 32 partitions
  EXPECT_EQ(w4_gemv_rounding_depth(128, 8192, 1, 32, true), 6u + 32u + 5u + 1u) << "grows with K / kp";
  EXPECT_EQ(w4_gemv_rounding_depth(12, 100, 3, 1, true), 6u + 13u + 0u + 3u + 1u) << "one partition, 3 slices";
  EXPECT_EQ(w4_gemv_rounding_depth(128, 4096, 1, 128, true), 6u + 4u + 7u + 1u);
  EXPECT_LT(w4_gemv_rounding_depth(128, 4096, 1, 32, true), w4_gemv_rounding_depth(128, 4096, 1, 32))
      << "no serial sum of the partitions";
}

}  // namespace
