// search_space.cpp — the declarations of the tuned kernel families (knobs, values, constraints,
// kernels) and candidate enumeration with pruning.
#include "autotune/search_space.hpp"

#include <algorithm>

#include "backend/attention_plan.hpp"
#include "backend/gemm_plan.hpp"
#include "backend/kernels.hpp"
#include "host/cache_dir.hpp"

namespace lowbit::tune {

namespace {

std::string too_big(const char* what, uint64_t have, uint64_t limit) {
  return std::string(what) + " " + std::to_string(have) + " exceeds the device's " + std::to_string(limit);
}

// K slices must keep at least `min_rows` rows each.
std::string split_violation(int split, int64_t k, int64_t min_rows) {
  if (split > 1 && k / split < min_rows)
    return "split " + std::to_string(split) + " leaves fewer than " + std::to_string(min_rows) + " K rows per slice";
  return "";
}

std::string gemv_w4_violation(const KernelConfig& c, const Limits& l, const Problem& p) {
  const bool kp = c.variant == 2 || c.variant == 3;  // K-partitioned / lane-reduced: partitions inside workgroups
  if (c.cols && p.n % c.cols) return "cols " + std::to_string(c.cols) + " does not divide N";
  if (kp && c.cols == 8) return "the K-partitioned and lane-reduced GEMVs take 1 or 4 columns per invocation";
  if (c.wg && uint32_t(c.wg) > l.max_workgroup) return too_big("workgroup", uint32_t(c.wg), l.max_workgroup);
  if (!kp && c.wg) {
    const uint64_t shared = uint64_t(detail::gemv_accumulator_rows(uint64_t(p.m))) * std::max<uint64_t>(256, c.wg) * 4;
    if (shared > l.shared_bytes) return too_big("shared memory", shared, l.shared_bytes);
  }
  return split_violation(c.split, p.k, kp ? 64 : 256);
}

std::string gemv_f16_violation(const KernelConfig& c, const Limits&, const Problem& p) {
  return split_violation(c.split, p.k, 256);
}

std::string tiled_violation(const KernelConfig& c, const Limits& l, const Problem& p) {
  const int stages = c.stages ? c.stages : 1;
  if (c.tile == 2 && stages > 1) return "the CPU-driver register tile runs serial only (pipelined: minutes to compile)";
  if (c.bm && c.bm > 16 && c.bm / 2 >= p.m) return "tile rows " + std::to_string(c.bm) + " far exceed M";
  const uint32_t bm = c.bm ? uint32_t(c.bm) : (p.m <= 16 ? 16 : p.m <= 32 ? 32 : 64);
  const detail::TiledConfig tc = detail::tiled_tile(bm, c.tile ? c.tile == 2 : l.cpu && stages == 1, stages);
  if (tc.wg > l.max_workgroup) return too_big("workgroup", tc.wg, l.max_workgroup);
  if (tc.shared_bytes() > l.shared_bytes) return too_big("shared memory", tc.shared_bytes(), l.shared_bytes);
  return split_violation(c.split, p.k, 8 * detail::kTiledSliceRows);
}

std::string coopmat_violation(const KernelConfig& c, const Limits&, const Problem& p) {
  return split_violation(c.split, p.k, 8 * detail::kTiledSliceRows);
}

std::string decode_violation(const KernelConfig& c, const Limits&, const Problem& p) {
  if (c.keys && p.page_size % uint32_t(c.keys)) return "keys per step " + std::to_string(c.keys) + " do not divide the page";
  if (c.split && int64_t(c.split) * p.page_size >= 2 * p.k) return "a split of more pages than the context";
  return "";
}

std::string kv_append_violation(const KernelConfig& c, const Limits& l, const Problem& p) {
  if (c.rows && uint64_t(c.rows) * p.words > l.max_workgroup)
    return too_big("workgroup", uint64_t(c.rows) * p.words, l.max_workgroup);
  return "";
}

std::string no_violation(const KernelConfig&, const Limits&, const Problem&) { return ""; }

}  // namespace

Limits limits_of(const DeviceInfo& d) {
  return {d.max_workgroup_size, d.shared_memory_bytes, d.subgroup_size, d.type == "cpu"};
}

const std::vector<Family>& families() {
  using K = KernelConfig;
  static const std::vector<std::string> gemm_cl = {"gemm.cl", "lowbit_formats.h"};
  static const std::vector<Family> f = {
      {"gemv_w4", {"gemm_gemv.spv", "gemm_gemv_f16dq.spv", "gemm_gemv_sg.spv", "gemm_gemv_f16dq_sg.spv", "gemm_reduce.spv"},
       gemm_cl,
       {{&K::variant, {1, 2, 3}}, {&K::wg, {64, 128, 256}}, {&K::cols, {1, 4, 8}}, {&K::split, {1, 2, 4, 8, 16, 32}}},
       gemv_w4_violation},
      {"gemv_f16", {"gemm_gemv.spv", "gemm_reduce.spv"}, gemm_cl, {{&K::split, {1, 2, 4, 8, 16}}}, gemv_f16_violation},
      {"tiled_w4", {"gemm_tiled.spv", "gemm_reduce.spv"}, gemm_cl,
       {{&K::bm, {16, 32, 64}}, {&K::tile, {1, 2}}, {&K::stages, {1, 2, 3}}, {&K::split, {1, 2, 4}}}, tiled_violation},
      {"tiled_f16", {"gemm_tiled.spv", "gemm_reduce.spv"}, gemm_cl,
       {{&K::bm, {16, 32, 64}}, {&K::tile, {1, 2}}, {&K::stages, {1, 2, 3}}, {&K::split, {1, 2, 4}}}, tiled_violation},
      {"coopmat_w4", {"gemm_coopmat.spv", "gemm_coopmat_khr.spv", "gemm_reduce.spv"}, {},
       {{&K::stages, {1, 2}}, {&K::split, {1, 2, 4, 8}}}, coopmat_violation},
      {"coopmat_f16", {"gemm_coopmat.spv", "gemm_coopmat_khr.spv", "gemm_reduce.spv"}, {},
       {{&K::stages, {1, 2}}, {&K::split, {1, 2, 4, 8}}}, coopmat_violation},
      {"attention_decode", {"attention_decode.spv", "attention_decode_sg.spv", "attention_merge.spv"}, {"attention.cl"},
       {{&K::keys, {1, 2, 4, 8}}, {&K::split, {4, 8, 16, 32, 64}}}, decode_violation},
      // prefill attention and conversions: no knob in their kernels yet; a knob added to the kernel
      // plugs in here (values + constraint) and in its planner.
      {"attention_prefill", {"attention_prefill.spv"}, {"attention.cl"}, {}, no_violation},
      {"kv_append", {"kv_append.spv"}, {"kv_append.cl"}, {{&K::rows, {1, 2, 4, 8, 16}}}, kv_append_violation},
      {"convert", {"convert_quantize.spv", "convert_dequantize.spv"}, {"convert.cl"}, {}, no_violation},
  };
  return f;
}

const Family& family(const std::string& name) {
  for (const Family& f : families())
    if (f.name == name) return f;
  throw Error(ErrorCode::InvalidArgument, "unknown kernel family '" + name + "'");
}

std::vector<KernelConfig> candidates(const Family& f, const Limits& l, const Problem& p) {
  std::vector<KernelConfig> out = {KernelConfig{}};
  auto add = [&](const KernelConfig& c) {
    if (f.violation(c, l, p).empty() && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  for (const Knob& k : f.knobs)  // one knob at a time: the neighbours of the default
    for (int v : k.values) {
      KernelConfig c;
      c.*k.member = v;
      add(c);
    }
  std::vector<KernelConfig> all = {KernelConfig{}};  // the full product
  for (const Knob& k : f.knobs) {
    std::vector<KernelConfig> next;
    for (const KernelConfig& base : all)
      for (int v : k.values) {
        KernelConfig c = base;
        c.*k.member = v;
        next.push_back(c);
      }
    all = std::move(next);
  }
  for (const KernelConfig& c : all) add(c);
  return out;
}

std::string kernel_hash(const Family& f, Backend b) {
  if (b == Backend::CPU) return "cpu";
  std::string bytes;
  for (const std::string& name : b == Backend::Vulkan ? f.vulkan_files : f.opencl_files)
    if (detail::has_embedded_file(name)) bytes += name + ":" + detail::embedded_text(name);
  return hash_hex(bytes);
}

}  // namespace lowbit::tune
