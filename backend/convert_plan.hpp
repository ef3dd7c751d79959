// convert_plan.hpp — how the GPU backends launch quantize / dequantize (convert.comp / convert.cl): the
// workgroup size and the elements each invocation converts (plain FP8: a run of the flattened tensor;
// MX / NVFP4: whole blocks of one row), a heuristic or a tuned KernelConfig (wg, elems). The split of the
// work never changes a value: every element is converted by the same lowbit_formats.h code.
#pragma once

#include <cstdint>
#include <string>

#include "lowbit/formats.hpp"
#include "lowbit/tuning.hpp"

namespace lowbit::detail {

inline constexpr uint32_t kConvertWorkgroup = 64;    // invocations per workgroup (heuristic)
inline constexpr uint32_t kConvertPlainElems = 16;   // plain FP8: elements per invocation (heuristic)
inline constexpr uint32_t kConvertMaxBlocks = 8;     // block formats: most blocks per invocation

// Why `c` cannot launch a conversion with `block`-element scales (0: plain) on a device of
// `max_workgroup` invocations ("" when it can).
inline std::string convert_violation(const KernelConfig& c, uint32_t block, uint32_t max_workgroup) {
  if (c.wg && (uint32_t(c.wg) > max_workgroup || (c.wg & (c.wg - 1))))
    return "workgroup " + std::to_string(c.wg) + " is not a power of two within the device's " +
           std::to_string(max_workgroup);
  if (c.elems && block && (c.elems % block || uint32_t(c.elems) / block > kConvertMaxBlocks))
    return "elements per invocation " + std::to_string(c.elems) + " are not 1.." + std::to_string(kConvertMaxBlocks) +
           " blocks of " + std::to_string(block);
  if (c.elems && !block && (c.elems > 256 || c.elems % 4))
    return "elements per invocation " + std::to_string(c.elems) + " are not a multiple of 4 up to 256";
  return "";
}

struct ConvertPlan {
  uint32_t wg = kConvertWorkgroup;
  uint32_t group = kConvertPlainElems;  // plain formats: elements per invocation
  uint32_t blocks = 1;                  // block formats: blocks per invocation
  // Invocations with work for rows x cols elements (nblk scales per row).
  uint64_t items(uint64_t rows, uint64_t cols, uint64_t nblk, bool blocked) const {
    return blocked ? (rows * nblk + blocks - 1) / blocks : (rows * cols + group - 1) / group;
  }
};

inline ConvertPlan plan_convert(const FormatInfo& f, const KernelConfig& c, uint32_t max_workgroup) {
  ConvertPlan p;
  if (!convert_violation(c, uint32_t(f.block), max_workgroup).empty()) return p;  // the lookup prunes these
  if (c.wg) p.wg = uint32_t(c.wg);
  if (c.elems && f.block) p.blocks = uint32_t(c.elems) / uint32_t(f.block);
  if (c.elems && !f.block) p.group = uint32_t(c.elems);
  return p;
}

}  // namespace lowbit::detail
