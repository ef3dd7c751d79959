// coopmat_shapes.hpp — the cooperative-matrix shapes a device reports (VK_KHR / VK_NV_cooperative_matrix
// property lists, as plain values) and the choice of the fragment shape FM x FN x FK for the KHR GEMM
// (shaders/glsl/gemm_coopmat.comp; the NV build of it runs kCoopmatNvShape), and that shader's K-pipeline
// depth and shared memory. Pure functions
// of the list / limits: unit-tested with real GPUs' lists.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <tuple>

namespace lowbit::detail {

// One reported shape: A is m x k, B is k x n, C and the result m x n. Component types and the scope use
// the Vulkan numbering (VkComponentTypeKHR / VkScopeKHR, the same values as the NV enums).
struct CoopmatShape {
  uint32_t m = 0, n = 0, k = 0;
  uint32_t a = 0, b = 0, c = 0, result = 0;
  uint32_t scope = 0;
  bool saturating = false;
};

inline constexpr uint32_t kCoopmatF16 = 0, kCoopmatF32 = 1;  // VK_COMPONENT_TYPE_FLOAT16 / FLOAT32
inline constexpr uint32_t kCoopmatScopeSubgroup = 3;         // VK_SCOPE_SUBGROUP

// The one shape the NV build of the GEMM runs (VK_NV_cooperative_matrix): 16x8x16 f16*f16+f32.
inline constexpr CoopmatShape kCoopmatNvShape{16, 8, 16, kCoopmatF16, kCoopmatF16, kCoopmatF32, kCoopmatF32,
                                              kCoopmatScopeSubgroup};

// "f16", "s8", ...: a component type's short name.
inline std::string coopmat_component_name(uint32_t t) {
  static const char* const names[] = {"f16", "f32", "f64", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64"};
  return t < 11 ? names[t] : "type" + std::to_string(t);
}

// "16x8x16 f16*f16+f32" (MxNxK A*B+C; "->R" when the result type differs from C, " workgroup" etc. for a
// scope other than subgroup, " sat" for saturating accumulation).
inline std::string coopmat_shape_name(const CoopmatShape& s) {
  std::string out = std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + " " +
                    coopmat_component_name(s.a) + "*" + coopmat_component_name(s.b) + "+" + coopmat_component_name(s.c);
  if (s.result != s.c) out += "->" + coopmat_component_name(s.result);
  if (s.scope != kCoopmatScopeSubgroup) out += s.scope == 2 ? " workgroup" : " scope" + std::to_string(s.scope);
  if (s.saturating) out += " sat";
  return out;
}

// Whether gemm_coopmat.comp (KHR) can run this shape: fp16 x fp16 + fp32 -> fp32 at subgroup scope, without
// saturation; FM, FN in {8, 16} (the 32 x 32 warp tile and the 16 x 16 staging tile per subgroup) and FK in
// {8, 16, 32} (a divisor of the K step, 32, and a multiple of 8 halves for 16-byte aligned fragment loads).
inline bool coopmat_shape_usable(const CoopmatShape& s) {
  auto mn_ok = [](uint32_t v) { return v == 8 || v == 16; };
  return s.a == kCoopmatF16 && s.b == kCoopmatF16 && s.c == kCoopmatF32 && s.result == kCoopmatF32 &&
         s.scope == kCoopmatScopeSubgroup && !s.saturating && mn_ok(s.m) && mn_ok(s.n) &&
         (s.k == 8 || s.k == 16 || s.k == 32);
}

// The fragment shape for the KHR GEMM: 16x16x16 where reported (fewest fragment loads per multiply),
// else the usable shape with the most work per multiply (m * n * k; ties: larger m, then larger k);
// none when no shape is usable.
inline std::optional<CoopmatShape> choose_coopmat_shape(std::span<const CoopmatShape> shapes) {
  std::optional<CoopmatShape> best;
  auto rank = [](const CoopmatShape& s) {
    bool square16 = s.m == 16 && s.n == 16 && s.k == 16;
    return std::tuple(square16, s.m * s.n * s.k, s.m, s.k);
  };
  for (const CoopmatShape& s : shapes)
    if (coopmat_shape_usable(s) && (!best || rank(s) > rank(*best))) best = s;
  return best;
}

// Shared memory of gemm_coopmat.comp (both APIs) at K-pipeline depth `stages`: one (S = 1) or two buffers of the
// padded fp16 A and B step tiles (64 + 64 rows of 32 + 8 halves), plus four 16 x 16 fp32 staging tiles.
inline uint32_t coopmat_shared_bytes(uint32_t stages) {
  return (stages == 1 ? 1u : 2u) * (64u + 64u) * (32u + 8u) * 2u + 4u * 16u * 16u * 4u;
}

// The cooperative-matrix GEMM's pipeline depth for GemmArgs::stages (0 = the default, 2: next step's loads in flight; else
// 1..4), lowered while its shared memory exceeds the device's `shared_limit` bytes.
inline constexpr int kCoopmatStagesDefault = 2;
inline uint32_t coopmat_stages(int requested, uint64_t shared_limit) {
  uint32_t s = uint32_t(std::clamp(requested > 0 ? requested : kCoopmatStagesDefault, 1, 4));
  while (s > 1 && coopmat_shared_bytes(s) > shared_limit) --s;
  return s;
}

}  // namespace lowbit::detail
