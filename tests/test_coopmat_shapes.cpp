// test_coopmat_shapes.cpp — the KHR GEMM's fragment-shape choice (backend/vulkan/coopmat_shapes.hpp) from
// the cooperative-matrix property lists of real GPUs, the shape names `lowbit devices` prints, and its
// K-pipeline depth against the device's shared memory.
#include <gtest/gtest.h>

#include <vector>

#include "backend/vulkan/coopmat_shapes.hpp"

namespace lowbit::detail {
namespace {

constexpr uint32_t F16 = 0, F32 = 1, S8 = 3, S32 = 5, U8 = 7, U32 = 9;
constexpr uint32_t kSubgroup = 3, kWorkgroup = 2;

CoopmatShape shape(uint32_t m, uint32_t n, uint32_t k, uint32_t a, uint32_t b, uint32_t c, uint32_t r,
                   uint32_t scope = kSubgroup) {
  return {m, n, k, a, b, c, r, scope, false};
}

std::string chosen(const std::vector<CoopmatShape>& list) {
  auto s = choose_coopmat_shape(list);
  return s ? coopmat_shape_name(*s) : "none";
}

// NVIDIA H100 (driver 535+, VK_KHR_cooperative_matrix as vulkaninfo lists it on Hopper / Ada).
const std::vector<CoopmatShape> kH100 = {
    shape(16, 16, 16, F16, F16, F16, F16), shape(16, 16, 16, F16, F16, F32, F32),
    shape(16, 8, 16, F16, F16, F16, F16),  shape(16, 8, 16, F16, F16, F32, F32),
    shape(16, 8, 8, F16, F16, F16, F16),   shape(16, 8, 8, F16, F16, F32, F32),
    shape(16, 8, 32, S8, S8, S32, S32),    shape(16, 8, 32, U8, U8, U32, U32),
    shape(16, 16, 32, S8, S8, S32, S32),   shape(16, 16, 32, U8, U8, U32, U32),
};
// AMD RX 7900 XTX (RDNA3, RADV / AMDVLK): WMMA is 16x16x16 only.
const std::vector<CoopmatShape> kRx7900 = {
    shape(16, 16, 16, F16, F16, F16, F16), shape(16, 16, 16, F16, F16, F32, F32),
    shape(16, 16, 16, S8, S8, S32, S32),   shape(16, 16, 16, U8, U8, U32, U32),
};
// Intel Arc A770 (DG2 / Xe-HPG) as Mesa's anv describes it (intel_device_info cooperative-matrix
// configurations: 8x8x16 fp16 and 8x8x32 int8 at subgroup size 8); not checked on the hardware.
const std::vector<CoopmatShape> kArcA770 = {
    shape(8, 8, 16, F16, F16, F16, F16), shape(8, 8, 16, F16, F16, F32, F32),
    shape(8, 8, 32, S8, S8, S32, S32),   shape(8, 8, 32, U8, U8, U32, U32),
};

TEST(CoopmatShapes, H100Gets16x16x16) { EXPECT_EQ(chosen(kH100), "16x16x16 f16*f16+f32"); }

TEST(CoopmatShapes, Rx7900Gets16x16x16) { EXPECT_EQ(chosen(kRx7900), "16x16x16 f16*f16+f32"); }

TEST(CoopmatShapes, ArcA770Gets8x8x16) { EXPECT_EQ(chosen(kArcA770), "8x8x16 f16*f16+f32"); }

TEST(CoopmatShapes, Without16x16x16The16x8x16ShapeWins) {
  std::vector<CoopmatShape> list = {shape(16, 8, 8, F16, F16, F32, F32), shape(8, 8, 16, F16, F16, F32, F32),
                                    shape(16, 8, 16, F16, F16, F32, F32)};
  EXPECT_EQ(chosen(list), "16x8x16 f16*f16+f32");
}

TEST(CoopmatShapes, OnlyFp16AccumulatorsOrIntegersGiveNone) {
  EXPECT_EQ(chosen({shape(16, 16, 16, F16, F16, F16, F16), shape(16, 16, 32, S8, S8, S32, S32)}), "none");
  EXPECT_EQ(chosen({}), "none");
}

TEST(CoopmatShapes, WorkgroupScopeSaturationAndOversizedShapesAreSkipped) {
  CoopmatShape sat = shape(16, 16, 16, F16, F16, F32, F32);
  sat.saturating = true;
  EXPECT_EQ(chosen({shape(16, 16, 16, F16, F16, F32, F32, kWorkgroup), sat, shape(32, 8, 16, F16, F16, F32, F32),
                    shape(16, 16, 64, F16, F16, F32, F32)}),
            "none");
}

TEST(CoopmatShapes, NamesShowResultScopeAndUnknownTypes) {
  EXPECT_EQ(coopmat_shape_name(shape(16, 8, 16, F16, F16, F16, F32)), "16x8x16 f16*f16+f16->f32");
  EXPECT_EQ(coopmat_shape_name(shape(16, 16, 16, F16, F16, F32, F32, kWorkgroup)), "16x16x16 f16*f16+f32 workgroup");
  EXPECT_EQ(coopmat_component_name(1000141000), "type1000141000");  // a type added after this list (bfloat16)
}

TEST(CoopmatStages, DefaultIsTheDoubleBufferAndRequestsAreClampedTo1To4) {
  EXPECT_EQ(coopmat_stages(0, 48 * 1024), 2u);
  EXPECT_EQ(coopmat_stages(1, 48 * 1024), 1u);
  EXPECT_EQ(coopmat_stages(3, 48 * 1024), 3u);
  EXPECT_EQ(coopmat_stages(4, 48 * 1024), 4u);
  EXPECT_EQ(coopmat_stages(9, 48 * 1024), 4u);
}

TEST(CoopmatStages, SharedMemoryIsOneBufferSerialTwoPipelined) {
  EXPECT_EQ(coopmat_shared_bytes(1), 14336u);  // 128 rows x 80 bytes + 4 KiB staging
  EXPECT_EQ(coopmat_shared_bytes(2), 24576u);
  EXPECT_EQ(coopmat_shared_bytes(4), 24576u);  // deeper stages hold their loads in registers
}

TEST(CoopmatStages, DepthIsLoweredToFitTheDeviceSharedMemory) {
  EXPECT_EQ(coopmat_stages(4, 24576), 4u);
  EXPECT_EQ(coopmat_stages(4, 24575), 1u);  // only the serial loop's single buffer fits
  EXPECT_EQ(coopmat_stages(0, 16384), 1u);
}

}  // namespace
}  // namespace lowbit::detail
