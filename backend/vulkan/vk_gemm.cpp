// vk_gemm.cpp — GEMM recording: variant choice, split-K, weight binding windows, reduce pass.
#include "backend/vulkan/vk_gemm.hpp"

#include <algorithm>
#include <array>
#include <numeric>
#include <string>

#include "backend/gemm_plan.hpp"
#include "backend/kernel_params.hpp"
#include "backend/tiled_config.hpp"
#include "backend/vulkan/coopmat_shapes.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail::vk {

namespace {

constexpr uint32_t kCoopTile = 64;  // the cooperative-matrix path's output tiles are 64 x 64
constexpr uint32_t kReduceWg = 256;
constexpr uint32_t kFlagBias = 1, kFlagZeros = 2, kFlagOutF32 = 4, kFlagBiasF32 = 8;

// Must match `GemmParams` in gemm_common.glsl.
struct Push {
  uint32_t M, N, K, group, k_split, splits, flags, split_base, kw_base, n_base, n_count;
};

const VulkanBuffer& vkbuf(const DeviceBuffer* b) { return *static_cast<const VulkanBuffer*>(b); }

}  // namespace

bool gemm_f16_dequant(const Gpu& gpu) { return gpu.info().fp16 && std::getenv("LOWBIT_VK_NO_F16_DEQUANT") == nullptr; }

GemmPipeline choose_gemm_pipeline(const Gpu& gpu, const DeviceProfile& profile, bool f16_dequant, const GemmArgs& a,
                                  CoopmatVariant coopmat, uint32_t coop_stages_cap) {
  const bool gemv = a.path == GemmPath::Gemv;
  const bool coop = a.path == GemmPath::CoopMatrix;
  GemmPipeline c;
  c.tiled = plan_tiled(profile, a.m, a.n, a.k, a.w4, a.stages, a.config);
  if (gemv) c.gemv = plan_gemv(profile, a.w4, a.m, a.n, a.k, a.split_k, a.config);
  // Groups that are not a multiple of 8 rows take the per-row scale loader (a variant, so that the
  // common groups pay nothing for it).
  const uint32_t any_group = a.w4 && a.group % 8 != 0 ? 1u : 0u;
  const auto& variants = gpu.coopmat_variants();
  if (coop && std::find(variants.begin(), variants.end(), coopmat) == variants.end())
    throw Error(ErrorCode::Unsupported, std::string("gemm: the cooperative-matrix path needs VK_") +
                                            coopmat_variant_name(coopmat) + "_cooperative_matrix with an fp16 x fp16 + fp32 shape");
  const GemvPlan& gp = c.gemv;
  if (gemv) {
    c.kernel = !a.w4 ? "gemm_gemv" : f16_dequant ? (gp.sg ? "gemm_gemv_f16dq_sg" : "gemm_gemv_f16dq") : gp.sg ? "gemm_gemv_sg" : "gemm_gemv";
    c.spec = gemv_params(gp, a.w4).values;
    c.full_subgroups = a.w4 && gp.sg;  // shuffles need full subgroups
    c.shared_bytes = gp.shared_bytes(), c.stages = 1;
  } else if (coop) {  // one source: KHR with the fragment shape from the device's list, NV with 16 x 8 x 16
    const bool khr = coopmat == CoopmatVariant::Khr;
    const CoopmatShape f = khr ? *gpu.coopmat_khr_shape() : kCoopmatNvShape;
    c.stages = std::min(coopmat_stages(a.stages, gpu.limits().maxComputeSharedMemorySize), coop_stages_cap);
    c.kernel = khr ? "gemm_coopmat_khr" : "gemm_coopmat";
    c.spec = {4 * gpu.info().subgroup_size, a.w4 ? 1u : 0u, any_group, f.m, f.n, f.k, c.stages};
    c.shared_bytes = coopmat_shared_bytes(c.stages);
  } else {
    c.kernel = "gemm_tiled";
    c.spec = tiled_params(c.tiled, a.w4, any_group).values;
    c.shared_bytes = c.tiled.shared_bytes(), c.stages = c.tiled.stages;
  }
  return c;
}

GemmLaunch GemmKernels::gemm(const GemmArgs& a) {
  const bool gemv = a.path == GemmPath::Gemv;
  const bool coop = a.path == GemmPath::CoopMatrix;
  const GemmPipeline choice = choose_gemm_pipeline(gpu_, profile_, f16_dequant_, a, coopmat_, coopmat_stages_cap_);
  const TiledConfig& tc = choice.tiled;
  const GemvPlan& gp = choice.gemv;
  const uint64_t range = gpu_.max_binding_range();
  const uint64_t align = std::max<uint64_t>(gpu_.limits().minStorageBufferOffsetAlignment, 4);
  const VulkanBuffer& x = vkbuf(a.x);
  const VulkanBuffer& w = vkbuf(a.w);
  const VulkanBuffer& scales = a.scales ? vkbuf(a.scales) : dummy_;
  const VulkanBuffer& zeros = a.zeros ? vkbuf(a.zeros) : dummy_;
  const VulkanBuffer& bias = a.bias ? vkbuf(a.bias) : dummy_;
  const VulkanBuffer& y = vkbuf(a.y);
  for (const VulkanBuffer* b : {&x, &scales, &zeros, &bias, &y})
    if (b->capacity() > range)
      throw Error(ErrorCode::Unsupported, "gemm: an activation/scale/output buffer of " + std::to_string(b->capacity()) +
                                              " bytes exceeds the device's storage-binding range (" + std::to_string(range) +
                                              "); only weights are split across bindings");

  // K slices. int4 weights bigger than one binding: one slice per binding window of whole word
  // rows (window offsets aligned); otherwise the tiled path splits K as the caller asks (split_k)
  // and GEMV splits K to keep the device busy.
  const uint64_t kwords = (a.k + 7) / 8;
  const uint64_t w_row_bytes = a.w4 ? a.n * 4 : a.k * 2;  // bytes per word row (int4) / per W row (fp16)
  const bool w_split = w.capacity() > range;
  uint64_t rows_per_window = 0;  // word rows (int4) or W rows (fp16) per binding window
  if (w_split) {
    uint64_t q = align / std::gcd(w_row_bytes, align);  // rows per aligned step
    rows_per_window = (range - align) / w_row_bytes / q * q;
    if (rows_per_window == 0)
      throw Error(ErrorCode::Unsupported, "gemm: one weight row takes " + std::to_string(w_row_bytes) +
                                              " bytes, more than the device's storage-binding range");
  }
  // The launch plan (backend/gemm_plan.hpp); weights over one binding force one K slice per window.
  const uint64_t tiles = coop ? ((a.n + kCoopTile - 1) / kCoopTile) * ((a.m + kCoopTile - 1) / kCoopTile)
                              : ((a.n + tc.bn - 1) / tc.bn) * ((a.m + tc.bm - 1) / tc.bm);
  uint32_t k_split = uint32_t(a.k), splits = 1;
  if (a.w4 && w_split) {
    k_split = uint32_t(rows_per_window * 8);
    splits = uint32_t((a.k + k_split - 1) / k_split);
  } else if (gemv) {
    k_split = gp.k_split, splits = gp.splits;
  } else if (!w_split || (a.split_k > 0 && !coop)) {  // the request, or slices enough to cover the device
    k_split = plan_tiled_split(profile_, tiles, a.k, a.split_k, splits);
  }
  std::shared_ptr<VulkanBuffer> partials;
  if (splits > 1) {
    partials = allocator_.create_pooled(size_t(splits) * a.m * a.n * 4);
    if (partials->capacity() > range)
      throw Error(ErrorCode::Unsupported, "gemm: split-K partials exceed the storage-binding range; use fewer splits");
  }
  const VulkanBuffer& out = splits > 1 ? *partials : y;

  const Pipeline& pipe = pipelines_.get(choice, 6);
  GemmLaunch launch{.kernel = choice.kernel, .invocations_per_workgroup = choice.spec[0],
                    .shared_bytes = choice.shared_bytes, .stages = choice.stages, .split_k = splits};
  if (gemv) launch.k_partitions = a.w4 ? gp.kp : gp.wg / gp.cols;
  if (gemv && a.w4) launch.gemv_variant = gp.variant();

  Push p{};
  p.M = uint32_t(a.m), p.N = uint32_t(a.n), p.K = uint32_t(a.k);
  p.group = uint32_t(a.w4 ? a.group : 1);
  p.k_split = k_split;
  p.splits = splits;
  p.flags = (a.bias ? kFlagBias : 0) | (a.bias && a.bias_f32 ? kFlagBiasF32 : 0) | (a.zeros ? kFlagZeros : 0) |
            (a.out_elem == LB_FMT_F32 ? kFlagOutF32 : 0);
  auto whole = [&](const VulkanBuffer& b, bool write) { return BufferUse{&b, 0, std::min<uint64_t>(b.capacity(), range), write}; };
  const uint32_t tile_m = coop ? kCoopTile : tc.bm, tile_n = coop ? kCoopTile : tc.bn;
  auto groups_x = [&](uint64_t n_count) {
    if (!gemv) return uint32_t((n_count + tile_n - 1) / tile_n);
    uint64_t cols = a.w4 ? uint64_t(gp.wg / gp.kp) * gp.nc : gp.cols;
    return uint32_t((n_count + cols - 1) / cols);
  };
  const uint32_t gy_tiles = uint32_t((a.m + tile_m - 1) / tile_m);

  stream_.begin_op();
  // One dispatch per weight binding window: int4 -> one K slice each; fp16 -> a column range.
  uint64_t windows = !w_split ? 1 : a.w4 ? splits : (a.n + rows_per_window - 1) / rows_per_window;
  for (uint64_t wi = 0; wi < windows; ++wi) {
    BufferUse wb = whole(w, false);
    p.n_base = 0, p.n_count = uint32_t(a.n), p.kw_base = 0, p.split_base = 0;
    uint32_t slices = splits;
    if (w_split && a.w4) {
      p.split_base = uint32_t(wi);
      p.kw_base = uint32_t(wi * rows_per_window);
      slices = 1;
      wb.offset = p.kw_base * w_row_bytes;
      wb.range = std::min<uint64_t>(std::min<uint64_t>(kwords, p.kw_base + rows_per_window) - p.kw_base, rows_per_window) * w_row_bytes;
    } else if (w_split) {
      p.n_base = uint32_t(wi * rows_per_window);
      p.n_count = uint32_t(std::min<uint64_t>(a.n - p.n_base, rows_per_window));
      wb.offset = uint64_t(p.n_base) * w_row_bytes;
      wb.range = uint64_t(p.n_count) * w_row_bytes;
    }
    std::array<BufferUse, 6> b = {whole(x, false), wb, whole(scales, false), whole(zeros, false), whole(bias, false),
                                  whole(out, true)};
    const uint32_t gy = gemv ? slices : gy_tiles, gz = gemv ? 1 : slices;
    stream_.dispatch(pipe, b, &p, sizeof p, groups_x(p.n_count), gy, gz);
    launch.workgroups += uint64_t(groups_x(p.n_count)) * gy * gz;
  }
  if (splits > 1) {
    const Pipeline& red = pipelines_.get("gemm_reduce", 6, {});
    std::array<BufferUse, 6> b = {whole(*partials, false), whole(dummy_, false), whole(dummy_, false),
                                  whole(dummy_, false), whole(bias, false), whole(y, true)};
    uint64_t items = a.m * a.n;
    stream_.dispatch(red, b, &p, sizeof p, uint32_t((items + kReduceWg - 1) / kReduceWg), 1, 1);
  }
  stream_.end_op();
  return launch;
}

void GemmKernels::gather(const GatherArgs& a) {
  const Pipeline& pipe = pipelines_.get("gather", 3, {});
  const uint64_t range = gpu_.max_binding_range();
  const VulkanBuffer &x = vkbuf(a.x), &perm = vkbuf(a.perm), &out = vkbuf(a.out);
  for (const VulkanBuffer* b : {&x, &out})
    if (b->capacity() > range)
      throw Error(ErrorCode::Unsupported, "gather: activations exceed the device's storage-binding range");
  std::array<BufferUse, 3> b = {BufferUse{&x, 0, x.capacity(), false}, BufferUse{&perm, 0, perm.capacity(), false},
                                BufferUse{&out, 0, out.capacity(), true}};
  uint32_t push[2] = {uint32_t(a.m), uint32_t(a.k)};
  uint64_t items = a.m * a.k;
  stream_.begin_op();
  stream_.dispatch(pipe, b, push, sizeof push, uint32_t((items + 255) / 256), 1, 1);
  stream_.end_op();
}

}  // namespace lowbit::detail::vk
