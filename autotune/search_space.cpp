// search_space.cpp — the declarations of the tuned kernel families (knobs, values, constraints,
// kernels) and candidate enumeration with pruning.
#include "autotune/search_space.hpp"

#include <algorithm>

#include "backend/attention_plan.hpp"
#include "backend/convert_plan.hpp"
#include "backend/gemm_plan.hpp"
#include "backend/kernel_params.hpp"
#include "backend/w4a8_plan.hpp"
#include "backend/kernels.hpp"
#include "backend/vulkan/coopmat_shapes.hpp"
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
  if (c.u && c.u != 1 && c.u != 2 && c.u != 4 && c.u != 8) return "u " + std::to_string(c.u) + " is not 1, 2, 4 or 8";
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

std::string coopmat_violation(const KernelConfig& c, const Limits& l, const Problem& p) {
  // (the default depth adapts to the device: detail::coopmat_stages)
  const uint32_t shared = c.stages ? detail::coopmat_shared_bytes(uint32_t(c.stages)) : 0;
  if (shared > l.shared_bytes) return too_big("shared memory", shared, l.shared_bytes);
  return split_violation(c.split, p.k, 8 * detail::kTiledSliceRows);
}

std::string decode_violation(const KernelConfig& c, const Limits&, const Problem& p) {
  if (c.keys && p.page_size % uint32_t(c.keys)) return "keys per step " + std::to_string(c.keys) + " do not divide the page";
  if (c.variant > 3) return "decode variant " + std::to_string(c.variant) + " is not 1 (no prefetch), 2 (prefetch) or 3 (no shuffles)";
  if (c.split && int64_t(c.split) * p.page_size >= 2 * p.k) return "a split of more pages than the context";
  if (c.elems && c.elems != 8 && c.elems != 16) return "decode chunk of " + std::to_string(c.elems) + " elements is not 8 or 16";
  if (c.lanes && (c.lanes > 64 || (c.lanes & (c.lanes - 1))))
    return "decode lanes per row " + std::to_string(c.lanes) + " is not a power of two in 1..64";
  if (c.spread && (c.spread > 8 || (c.spread & (c.spread - 1))))
    return "decode head sets " + std::to_string(c.spread) + " is not a power of two in 1..8";
  return "";
}

std::string kv_append_violation(const KernelConfig& c, const Limits& l, const Problem& p) {
  if (c.rows && uint64_t(c.rows) * p.words > l.max_workgroup)
    return too_big("workgroup", uint64_t(c.rows) * p.words, l.max_workgroup);
  return "";
}

// W4A8 (backend/w4a8_plan.hpp): the launch the planner builds from the knobs must fit the device.
std::string w4a8_plan_violation(bool gemv, const KernelConfig& c, const Limits& l, const Problem& p) {
  detail::DeviceProfile d;
  d.cpu = l.cpu, d.max_workgroup = l.max_workgroup, d.shared_bytes = l.shared_bytes;
  const detail::W4A8Plan plan = detail::plan_w4a8(d, gemv, uint64_t(p.m), uint64_t(p.n), uint64_t(p.k), 128, 0, c);
  if (plan.wg() > l.max_workgroup) return too_big("workgroup", plan.wg(), l.max_workgroup);
  if (plan.shared_bytes() > l.shared_bytes) return too_big("shared memory", plan.shared_bytes(), l.shared_bytes);
  return "";
}

// W4A8 GEMV: NC columns per invocation (vector loads: N % NC == 0), K slices of >= 256 rows.
std::string gemv_w4a8_violation(const KernelConfig& c, const Limits& l, const Problem& p) {
  if (c.cols && p.n % c.cols) return "cols " + std::to_string(c.cols) + " does not divide N";
  const std::string v = w4a8_plan_violation(true, c, l, p);
  return v.empty() ? split_violation(c.split, p.k, detail::kGemvChunk) : v;
}

std::string tiled_w4a8_violation(const KernelConfig& c, const Limits& l, const Problem& p) {
  if (c.bm && c.bm > 16 && c.bm / 2 >= p.m) return "tile rows " + std::to_string(c.bm) + " far exceed M";
  const std::string v = w4a8_plan_violation(false, c, l, p);
  return v.empty() ? split_violation(c.split, p.k, 8 * detail::kTiledSliceRows) : v;
}

// Prefill: the query / key tile the planner would launch (a knob left 0 keeps the heuristic's).
std::string prefill_violation(const KernelConfig& c, const Limits& l, const Problem& p) {
  detail::attn::PrefillTile t{16, 8};
  try {
    t = detail::attn::prefill_tile(p.head_dim, l.shared_bytes);
  } catch (const Error& e) {
    return e.what();
  }
  if (c.rows) t.rows = uint32_t(c.rows);
  if (c.keys) t.keys = uint32_t(c.keys);
  return detail::attn::prefill_tile_violation(p.head_dim, t, l.shared_bytes);
}

std::string convert_violation(const KernelConfig& c, const Limits& l, const Problem& p) {
  return detail::convert_violation(c, p.block, l.max_workgroup);
}

// ---- launches (see LaunchFn): what the backends' planners make of a config ----

std::vector<uint64_t> with_slices(std::vector<uint32_t> params, uint64_t k_split, uint64_t splits) {
  std::vector<uint64_t> v(params.begin(), params.end());
  v.push_back(k_split), v.push_back(splits);
  return v;
}

// As backend/{vulkan/vk_gemm,opencl/cl_gemm}.cpp: GemmArgs::split_k = c.split, the plan from the config.
std::vector<uint64_t> gemv_launch(bool w4, const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  const detail::GemvPlan g = detail::plan_gemv(d, w4, uint64_t(p.m), uint64_t(p.n), uint64_t(p.k), c.split, c);
  std::vector<uint64_t> v = with_slices(detail::gemv_params(g, w4).values, g.k_split, g.splits);
  v.push_back(g.groups_n);
  return v;
}
std::vector<uint64_t> gemv_w4_launch(const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  return gemv_launch(true, c, p, d);
}
std::vector<uint64_t> gemv_f16_launch(const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  return gemv_launch(false, c, p, d);
}

// GemmArgs::stages = c.stages, split_k = c.split; the tile, then K slices for its output tiles.
std::vector<uint64_t> tiled_launch(bool w4, const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  const uint64_t m = uint64_t(p.m), n = uint64_t(p.n), k = uint64_t(p.k);
  const detail::TiledConfig tc = detail::plan_tiled(d, m, n, k, w4, c.stages, c);
  const uint64_t tiles = ((n + tc.bn - 1) / tc.bn) * ((m + tc.bm - 1) / tc.bm);
  uint32_t splits = 1;
  const uint32_t k_split = detail::plan_tiled_split(d, tiles, k, c.split, splits);
  return with_slices(detail::tiled_params(tc, w4, false).values, k_split, splits);
}
std::vector<uint64_t> tiled_w4_launch(const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  return tiled_launch(true, c, p, d);
}
std::vector<uint64_t> tiled_f16_launch(const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  return tiled_launch(false, c, p, d);
}

// W4A8: the GEMV or tiled plan's kernel parameters, K slices and grid (group 128, as the tuner runs it).
std::vector<uint64_t> w4a8_launch(bool gemv, const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  const detail::W4A8Plan plan = detail::plan_w4a8(d, gemv, uint64_t(p.m), uint64_t(p.n), uint64_t(p.k), 128, 0, c);
  std::vector<uint64_t> v = with_slices(detail::w4a8_params(plan).values, plan.k_split, plan.splits);
  v.push_back(plan.workgroups());
  return v;
}
std::vector<uint64_t> gemv_w4a8_launch(const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  return w4a8_launch(true, c, p, d);
}
std::vector<uint64_t> tiled_w4a8_launch(const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  return w4a8_launch(false, c, p, d);
}

// The cooperative-matrix kernel's depth (the default is 2, the double buffer); a requested split in whole slices (the
// planner's own split needs the kernel's tile, which lives in the Vulkan backend: 0 here).
std::vector<uint64_t> coopmat_launch(const KernelConfig& c, const Problem& p, const detail::DeviceProfile&) {
  uint32_t splits = 0, k_split = 0;
  if (c.split > 0) k_split = detail::tiled_k_split(uint64_t(p.k), c.split, splits);
  return {c.stages > 0 ? uint64_t(c.stages) : 2u, k_split, splits};
}

// attn::plan_decode tries the tuned keys per step first, then 4, then 2 (GPUs: then 1): keys=4 is the default's (on GPUs
// up to head dim 128: above it their register budget may take fewer, so there it is a launch of its own); a
// split of more pages than the context has is the whole context.
std::vector<uint64_t> decode_launch(const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d) {
  const uint64_t pages = std::max<uint64_t>(1, (uint64_t(p.k) + p.page_size - 1) / std::max<uint32_t>(1, p.page_size));
  // rows (query heads per workgroup) only lowers the planner's count, which the problem does not carry
  // (it is min(G, 8) at head dim 128): each value is its own launch; so is each chunk (elems), whose
  // default depends on the backend's lanes per row and register budget, and each lanes per row but CPU
  // devices' 1 (whole rows: their default on both APIs; a GPU's default depends on the API), and each
  // head-set count but the one the device's planner picks for those lanes (attn::default_head_sets: a GPU's 4,
  // lavapipe's 2 with whole rows, PoCL's 1)
  const uint64_t lanes = d.cpu && c.lanes == 1 ? 0u : uint64_t(c.lanes);
  const uint32_t lane_cap = c.lanes > 0 ? uint32_t(c.lanes) : d.cpu ? 1u : 0u;
  const uint64_t spread =
      uint32_t(c.spread) == detail::attn::default_head_sets(d.cpu, lane_cap, d.whole_row_head_sets) ? 0u : uint64_t(c.spread);
  const bool keys4_default = d.cpu || p.head_dim <= 128;
  return {c.keys == 4 && keys4_default ? 0u : uint64_t(c.keys), c.split > 0 ? std::min<uint64_t>(uint64_t(c.split), pages) : 0,
          uint64_t(c.rows), uint64_t(c.elems), lanes, spread};
}

}  // namespace

Limits limits_of(const DeviceInfo& d) {
  return {d.max_workgroup_size, d.shared_memory_bytes, d.subgroup_size, d.type == "cpu"};
}

const std::vector<Family>& families() {
  using K = KernelConfig;
  static const std::vector<std::string> gemm_cl = {"gemm.cl", "lowbit_formats.h"};
  static const std::vector<std::string> w4a8_cl = {"gemm_w4a8.cl", "lowbit_formats.h"};
  static const std::vector<Family> f = {
      {"gemv_w4", {"gemm_gemv.spv", "gemm_gemv_f16dq.spv", "gemm_gemv_sg.spv", "gemm_gemv_f16dq_sg.spv", "gemm_reduce.spv"},
       gemm_cl,
       {{&K::variant, {1, 2, 3}}, {&K::wg, {64, 128, 256}}, {&K::cols, {1, 4, 8}}, {&K::split, {1, 2, 4, 8, 16, 32}}},
       gemv_w4_violation, gemv_w4_launch},
      {"gemv_f16", {"gemm_gemv.spv", "gemm_reduce.spv"}, gemm_cl, {{&K::split, {1, 2, 4, 8, 16}}}, gemv_f16_violation,
       gemv_f16_launch},
      {"tiled_w4", {"gemm_tiled.spv", "gemm_reduce.spv"}, gemm_cl,
       {{&K::bm, {16, 32, 64}}, {&K::tile, {1, 2}}, {&K::stages, {1, 2, 3}}, {&K::split, {1, 2, 4}}}, tiled_violation,
       tiled_w4_launch},
      {"tiled_f16", {"gemm_tiled.spv", "gemm_reduce.spv"}, gemm_cl,
       {{&K::bm, {16, 32, 64}}, {&K::tile, {1, 2}}, {&K::stages, {1, 2, 3}}, {&K::split, {1, 2, 4}}}, tiled_violation,
       tiled_f16_launch},
      {"coopmat_w4", {"gemm_coopmat.spv", "gemm_coopmat_khr.spv", "gemm_reduce.spv"}, {},
       {{&K::stages, {1, 2, 3, 4}}, {&K::split, {1, 2, 4, 8}}}, coopmat_violation, coopmat_launch},
      {"coopmat_f16", {"gemm_coopmat.spv", "gemm_coopmat_khr.spv", "gemm_reduce.spv"}, {},
       {{&K::stages, {1, 2, 3, 4}}, {&K::split, {1, 2, 4, 8}}}, coopmat_violation, coopmat_launch},
      {"attention_decode", {"attention_decode.spv", "attention_decode_sg.spv", "attention_merge.spv"}, {"attention.cl"},
       {{&K::keys, {1, 2, 4, 8}}, {&K::split, {4, 8, 16, 32, 64}}, {&K::rows, {1, 2, 4}}, {&K::elems, {8, 16}},
        {&K::lanes, {1, 4, 16}}, {&K::spread, {1, 2, 4}}},
       decode_violation, decode_launch},
      {"gemv_w4a8", {"gemm_w4a8_gemv.spv", "gemm_w4a8_gemv_dot.spv", "gemm_w4a8_reduce.spv"}, w4a8_cl,
       {{&K::wg, {64, 128, 256}}, {&K::cols, {1, 4, 8}}, {&K::split, {1, 2, 4, 8, 16, 32}}}, gemv_w4a8_violation,
       gemv_w4a8_launch},
      {"tiled_w4a8", {"gemm_w4a8_tiled.spv", "gemm_w4a8_tiled_dot.spv", "gemm_w4a8_reduce.spv"}, w4a8_cl,
       {{&K::bm, {16, 32, 64}}, {&K::tile, {1, 2}}, {&K::split, {1, 2, 4, 8}}}, tiled_w4a8_violation,
       tiled_w4a8_launch},
      // prefill: rows = query tile BQ, keys = key tile BK
      {"attention_prefill", {"attention_prefill.spv"}, {"attention.cl"},
       {{&K::rows, {8, 16, 32, 64}}, {&K::keys, {8, 16, 32, 64}}}, prefill_violation},
      {"kv_append", {"kv_append.spv"}, {"kv_append.cl"}, {{&K::rows, {1, 2, 4, 8, 16}}}, kv_append_violation},
      // quantize / dequantize: workgroup size, elements per invocation (whole blocks for MX / NVFP4)
      {"convert", {"convert_quantize.spv", "convert_dequantize.spv"}, {"convert.cl", "lowbit_formats.h"},
       {{&K::wg, {32, 64, 128, 256}}, {&K::elems, {4, 8, 16, 32, 64, 128}}}, convert_violation},
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

std::vector<KernelConfig> distinct_launches(const Family& f, const std::vector<KernelConfig>& cands, const Problem& p,
                                            const std::optional<detail::DeviceProfile>& profile) {
  if (!profile) return {cands.begin(), cands.begin() + std::min<size_t>(1, cands.size())};
  std::vector<KernelConfig> out;
  std::vector<std::vector<uint64_t>> seen;
  for (const KernelConfig& c : cands) {
    if (!f.launch) {
      if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
      continue;
    }
    std::vector<uint64_t> l = f.launch(c, p, *profile);
    if (std::find(seen.begin(), seen.end(), l) != seen.end()) continue;
    KernelConfig simplest = c;  // without the knobs set to what the planner picks anyway
    for (const Knob& k : f.knobs) {
      KernelConfig fewer = simplest;
      fewer.*k.member = 0;
      if (fewer != simplest && f.launch(fewer, p, *profile) == l) simplest = fewer;
    }
    seen.push_back(std::move(l));
    out.push_back(simplest);
  }
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
