// test_prefill_coopmat_plan.cpp — the KHR cooperative-matrix prefill's plan (backend/vulkan/prefill_coopmat_plan.hpp):
// which head dims a fragment shape serves, the key tile that fits the shared memory of real GPUs, and when
// there is no plan (the scalar prefill runs), and the per-call first-use decision. The shader itself only runs on
// GPUs with matrix units.
#include <gtest/gtest.h>

#include "backend/vulkan/prefill_coopmat_plan.hpp"
#include "backend/vulkan/vk_first_use.hpp"

namespace lowbit::detail {
namespace {

constexpr uint32_t F16 = 0, F32 = 1;
constexpr uint64_t k48K = 49152, k64K = 65536;  // Vulkan maxComputeSharedMemorySize: NVIDIA 48 KiB, AMD RDNA3 64 KiB

CoopmatShape f16_shape(uint32_t m, uint32_t n, uint32_t k) { return {m, n, k, F16, F16, F32, F32, 3, false}; }

uint32_t keys(uint32_t d, const CoopmatShape& f, uint64_t shared, uint32_t subgroup = 32) {
  auto p = plan_prefill_coopmat(d, f, subgroup, shared, 1024);
  return p ? p->keys : 0;
}

TEST(PrefillCoopmatPlan, SharedBytesCountEveryArrayOfTheShader) {
  // d 128, 16 rows per subgroup, 32 keys: Q 64 x 136 + K/V 32 x 136 halves, 64 x 32 logits, 64 x 40 halves, 3 x 64 floats
  EXPECT_EQ(prefill_coopmat_shared_bytes(128, 16, 32), 17408u + 8704u + 8192u + 5120u + 768u);
}

TEST(PrefillCoopmatPlan, H100Shape16x16x16PicksTheLargestKeyTileThatFits) {
  const CoopmatShape f = f16_shape(16, 16, 16);
  EXPECT_EQ(keys(64, f, k48K), 64u);   // 44800 bytes
  EXPECT_EQ(keys(128, f, k48K), 32u);  // 64 keys would take 61184
  EXPECT_EQ(keys(80, f, k48K), 64u);
  EXPECT_EQ(keys(96, f, k48K), 32u);
  EXPECT_EQ(keys(128, f, k64K), 64u);  // RX 7900 XTX's 64 KiB
  auto p = plan_prefill_coopmat(128, f, 32, k48K, 1024);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->rows(), 64u);
  EXPECT_EQ(p->workgroup, 128u);
}

TEST(PrefillCoopmatPlan, HeadDim256Needs64KiBWith16RowFragments) {
  EXPECT_EQ(keys(256, f16_shape(16, 16, 16), k48K), 0u);  // 16 keys: 50176 bytes > 48 KiB: scalar prefill
  EXPECT_EQ(keys(256, f16_shape(16, 16, 16), k64K), 32u);  // 64768 bytes
  EXPECT_EQ(keys(256, f16_shape(8, 8, 16), k48K), 32u);  // Arc's 8 x 8 x 16: 32 rows per workgroup
}

TEST(PrefillCoopmatPlan, HeadDimMustBeAMultipleOfTheFragmentsNAndK) {
  EXPECT_EQ(keys(80, f16_shape(16, 16, 32), k64K), 0u);  // 80 % 32
  EXPECT_EQ(keys(96, f16_shape(16, 16, 32), k64K), 64u);
  EXPECT_EQ(keys(80, f16_shape(16, 8, 16), k48K), 64u);
}

TEST(PrefillCoopmatPlan, UnusableShapesAndSmallDevicesGetNoPlan) {
  EXPECT_EQ(keys(128, {16, 16, 16, F16, F16, F16, F16, 3, false}, k48K), 0u);  // fp16 accumulators
  EXPECT_EQ(keys(64, f16_shape(16, 16, 16), 16384), 0u);                     // 16 KiB: nothing fits
  EXPECT_FALSE(plan_prefill_coopmat(64, f16_shape(16, 16, 16), 64, k48K, 128));  // 4 subgroups of 64 > 128
  EXPECT_FALSE(plan_prefill_coopmat(64, f16_shape(16, 16, 16), 0, k48K, 1024));
}

// The device's decision per call (vulkan_device.cpp): check an unchecked path, except while recording into the
// application's command buffer (no downloads there: the scalar kernel until a later call checks); use a path that
// passed; never retry one that failed.
TEST(PrefillCoopmatFirstUse, CheckOnceOutsideRecordModeAndFallBackOtherwise) {
  using vk::FirstUse, vk::FirstUseStep, vk::first_use_step;
  EXPECT_EQ(first_use_step(FirstUse::Unchecked, false), FirstUseStep::Check);
  EXPECT_EQ(first_use_step(FirstUse::Unchecked, true), FirstUseStep::Fallback);
  EXPECT_EQ(first_use_step(FirstUse::Passed, false), FirstUseStep::Use);
  EXPECT_EQ(first_use_step(FirstUse::Passed, true), FirstUseStep::Use);
  EXPECT_EQ(first_use_step(FirstUse::Failed, false), FirstUseStep::Fallback);
  EXPECT_EQ(first_use_step(FirstUse::Failed, true), FirstUseStep::Fallback);
}

}  // namespace
}  // namespace lowbit::detail
