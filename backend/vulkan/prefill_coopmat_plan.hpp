// prefill_coopmat_plan.hpp — the launch plan of the KHR cooperative-matrix prefill attention
// (shaders/glsl/attention_prefill_coopmat_khr.comp): whether the device's fragment shape serves a head dim,
// the keys per tile that fit its shared memory, and that shared memory. Pure functions of (shape, head dim,
// limits): unit-tested with real GPUs' figures. No plan = the scalar prefill (attention.comp PREFILL) runs.
#pragma once

#include <cstdint>
#include <optional>

#include "backend/vulkan/coopmat_shapes.hpp"

namespace lowbit::detail {

struct PrefillCoopmatPlan {
  uint32_t fm = 16, fn = 16, fk = 16;  // the fragment shape (coopmat_shapes.hpp's choice for the device)
  uint32_t keys = 32;                  // BKV: keys per tile, a multiple of fn and fk
  uint32_t workgroup = 128;            // 4 subgroups
  uint32_t rows() const { return 4 * fm; }  // (query, query head) rows per workgroup: fm per matrix subgroup
};

// Shared bytes of the shader: Q [rows][d + 8] and the K/V tile [keys][d + 8] in fp16, the logits
// [rows][keys] fp32, P [rows][keys + 8] fp16, and the running max / sum / factor per row.
inline uint64_t prefill_coopmat_shared_bytes(uint32_t d, uint32_t fm, uint32_t keys) {
  const uint64_t rows = 4ull * fm;
  return 2 * rows * (d + 8) + 2ull * keys * (d + 8) + 4 * rows * keys + 2 * rows * (keys + 8) + 12 * rows;
}

// The plan for head dim d with fragment shape f on a device with `subgroup` lanes, `shared_limit` bytes of
// shared memory and `max_workgroup` invocations: the most keys per tile (64, 32, 16) that fit; none when d
// is not a multiple of the fragment's N and K, or nothing fits (e.g. d = 256 with 48 KiB).
inline std::optional<PrefillCoopmatPlan> plan_prefill_coopmat(uint32_t d, const CoopmatShape& f, uint32_t subgroup,
                                                              uint64_t shared_limit, uint32_t max_workgroup) {
  if (!coopmat_shape_usable(f) || subgroup == 0 || 4 * subgroup > max_workgroup) return std::nullopt;
  if (d % f.n || d % f.k) return std::nullopt;
  for (uint32_t keys : {64u, 32u, 16u}) {
    if (keys % f.n || keys % f.k) continue;
    if (prefill_coopmat_shared_bytes(d, f.m, keys) <= shared_limit)
      return PrefillCoopmatPlan{f.m, f.n, f.k, keys, 4 * subgroup};
  }
  return std::nullopt;
}

}  // namespace lowbit::detail
