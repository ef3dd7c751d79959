// vk_attention.cpp — attention recording (kv_append: vk_kv_append.cpp): variant choice (specialization
// constants), decode split-K planning with its merge pass, prefill tiles.
#include "backend/vulkan/vk_attention.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>
#include <thread>

#include "backend/attention_plan.hpp"
#include "backend/kernels.hpp"

namespace lowbit::detail::vk {

namespace {

// Must match `AttnParams` in attention_common.glsl.
struct AttnPush {
  uint32_t q_heads, kv_heads, max_blocks, page_size, splits, split_keys, flags;
  int32_t window;
  float softcap, scale;
  uint32_t chunks;
};
constexpr uint32_t kFlagOutF32 = 1, kFlagCausal = 2, kFlagFp8PerHead = 4;

const VulkanBuffer& vkbuf(const DeviceBuffer* b) { return *static_cast<const VulkanBuffer*>(b); }

}  // namespace

BufferUse AttentionKernels::whole(const DeviceBuffer* b, bool write, const char* what) const {
  const VulkanBuffer& vb = vkbuf(b);
  if (vb.capacity() > gpu_.max_binding_range())
    throw Error(ErrorCode::Unsupported, std::string("vulkan attention: ") + what + " takes " +
                                            std::to_string(vb.capacity()) +
                                            " bytes, more than the device's largest storage-buffer binding (" +
                                            std::to_string(gpu_.max_binding_range()) + " bytes)");
  return {&vb, 0, vb.capacity(), write};
}

void AttentionKernels::attention(const AttentionArgs& a) {
  attn::check_head_dim(a.kv.head_dim, "vulkan");
  if (!a.total_q) return;
  stream_.begin_op();
  if (a.decode) {
    decode(a);
  } else {
    prefill(a);
  }
  stream_.end_op();
}

namespace {

// Spec constants shared by the attention.comp entry kinds: WG, FMT, D, (3, 4, 7, 8, 9 per kind), EPW, RW,
// and 10, 11 (decode: the merge slice, 0 = the head dim; the head sets).
std::vector<uint32_t> attn_spec(uint32_t wg, const KvLayerArgs& kv, uint32_t c3, uint32_t c4, uint32_t c7 = 1,
                                uint32_t c8 = 1, uint32_t c9 = 8, uint32_t c10 = 0, uint32_t c11 = 1) {
  const uint32_t epw = attn::elems_per_word(kv.format);
  return {wg, uint32_t(kv.format), kv.head_dim, c3, c4, epw, kv.head_dim / epw, c7, c8, c9, c10, c11};
}

AttnPush attn_push(const AttentionArgs& a) {
  AttnPush p{};
  p.q_heads = a.q_heads;
  p.kv_heads = a.kv.kv_heads;
  p.max_blocks = a.max_blocks;
  p.page_size = a.kv.page_size;
  p.splits = 1;
  p.split_keys = 0;
  p.flags = (a.out_f32 ? kFlagOutF32 : 0) | (a.causal ? kFlagCausal : 0) | (a.kv.fp8_per_head ? kFlagFp8PerHead : 0);
  p.window = a.window;
  p.softcap = a.softcap;
  p.scale = a.scale;
  p.chunks = 1;
  return p;
}

}  // namespace

uint32_t attention_shuffle_lanes(const Gpu& gpu) {
  const char* off = std::getenv("LOWBIT_VK_NO_SHUFFLE");
  if (off && *off && std::string(off) != "0") return 0;
  VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props.pNext = &sg;
  vkGetPhysicalDeviceProperties2(gpu.physical(), &props);
  const bool ok = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                  (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) && sg.subgroupSize >= 4 &&
                  gpu.full_subgroups_max() > 0;  // whole subgroups guaranteed
  return ok ? std::min(sg.subgroupSize, 16u) : 0;
}

// The 12 bindings of attention.comp: q, K, V, scales/zeros (or the dummy), the sequence tables, then
// `out` (binding 10) and `part` (binding 11, the split-K partials).
std::array<BufferUse, 12> AttentionKernels::bindings(const AttentionArgs& a, BufferUse out, BufferUse part) const {
  const KvLayerArgs& kv = a.kv;
  const bool ints = attn::kv_int_format(kv.format), fp8 = attn::kv_fp8_format(kv.format);
  const BufferUse none{&dummy_, 0, 16, false};
  return {whole(a.q, false, "q"),
          whole(kv.k, false, "the KV cache layer"),
          whole(kv.v, false, "the KV cache layer"),
          ints || fp8 ? whole(kv.k_scale, false, "the KV scales") : none,
          ints ? whole(kv.k_zero, false, "the KV zeros") : none,
          ints || fp8 ? whole(kv.v_scale, false, "the KV scales") : none,
          ints ? whole(kv.v_zero, false, "the KV zeros") : none,
          whole(a.q_start, false, "q_start"),
          whole(a.block_table, false, "the block table"),
          whole(a.seq_lens, false, "seq_lens"),
          out,
          part};
}

DecodePipeline choose_decode_pipeline(const Gpu& gpu, const AttentionArgs& a) {
  const bool cpu = gpu.props().deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  const uint64_t target = cpu ? 2 * std::max(1u, std::thread::hardware_concurrency()) : 512;
  const uint32_t sg_lanes = attention_shuffle_lanes(gpu);
  // CPU drivers (lavapipe): an invocation holds whole key rows (lanes 1): no cross-lane sums, whose
  // shuffles and barriers cost more there than the dots, and a workgroup of one SIMD vector. GPUs: lanes per row up
  // to the subgroup size, partial dots summed by shuffles (KernelConfig::lanes caps either).
  const uint32_t want_lanes = a.config.lanes > 0 ? uint32_t(a.config.lanes) : cpu ? 1u : 0u;  // 0: the subgroup's
  const uint32_t wg = cpu && want_lanes == 1 ? attn::cpu_decode_workgroup(gpu.info().subgroup_size) : attn::kWorkgroup;
  const bool shuffle = want_lanes != 1 && sg_lanes > 0 && wg % gpu.full_subgroups_max() == 0 &&
                       attn::decode_shuffles_allowed(a.config);
  const uint32_t lane_cap = want_lanes == 1 ? 1u : shuffle ? std::min(want_lanes ? want_lanes : sg_lanes, sg_lanes)
                                                           : (want_lanes ? want_lanes : 8u);
  const attn::DecodePlan plan =
      attn::plan_decode(a, target, lane_cap, shuffle, gpu.limits().maxComputeSharedMemorySize,
                        !cpu ? attn::kGpuMaxLaneElems : lane_cap == 1 ? attn::kCpuWholeRowLaneElems : attn::kMaxLaneElems,
                        wg, attn::default_head_sets(cpu, lane_cap, attn::kCpuWholeRowHeadSets),
                        cpu ? 0u : attn::kGpuMaxStepWords);
  return {{shuffle ? "attention_decode_sg" : "attention_decode",
           attn_spec(plan.workgroup, a.kv, plan.heads_per_group, plan.lanes_per_row, plan.keys_per_step,
                     attn::decode_prefetch(a.config, cpu) ? 1u : 0u, plan.chunk_elems, plan.merge_slice, plan.head_sets),
           shuffle},
          plan};
}

void AttentionKernels::decode(const AttentionArgs& a) {
  const KvLayerArgs& kv = a.kv;
  const DecodePipeline choice = choose_decode_pipeline(gpu_, a);
  const attn::DecodePlan& plan = choice.plan;
  AttnPush p = attn_push(a);
  p.splits = plan.splits;
  p.split_keys = plan.split_keys;
  p.chunks = plan.chunks;
  const uint64_t gy = uint64_t(a.batch) * kv.kv_heads * plan.chunks;
  if (plan.splits > gpu_.limits().maxComputeWorkGroupCount[0] || gy > gpu_.limits().maxComputeWorkGroupCount[1])
    throw Error(ErrorCode::Unsupported, "vulkan attention: decode grid exceeds the device's workgroup count limits");

  const BufferUse sink{&dummy_, 0, 16, true};  // sink: a binding the shader may write
  BufferUse part = sink;
  if (plan.splits > 1) {
    const uint64_t bytes = uint64_t(a.batch) * a.q_heads * plan.splits * (kv.head_dim + 2) * 4;
    if (bytes > gpu_.max_binding_range())
      throw Error(ErrorCode::Unsupported, "vulkan attention: split-K partials exceed the storage-buffer range");
    if (!partials_ || partials_->capacity() < bytes) partials_ = allocator_.create(bytes, MemoryUse::Device);
    part = {partials_.get(), 0, partials_->capacity(), true};
  }
  auto b = bindings(a, plan.splits > 1 ? sink : whole(a.out, true, "the output"), part);
  last_kernel_ = choice.kernel;
  const Pipeline& dec = pipelines_.get(choice, 12);
  stream_.dispatch(dec, b, &p, sizeof p, plan.splits, uint32_t(gy));
  if (plan.splits > 1) {
    b[10] = whole(a.out, true, "the output");
    b[11].write = true;  // declared read-write in the shader
    const Pipeline& merge = pipelines_.get("attention_merge", 12, attn_spec(attn::kMergeWorkgroup, kv, 0, 0));
    stream_.dispatch(merge, b, &p, sizeof p, a.q_heads, a.batch);
  }
}

std::optional<PrefillCoopmatPlan> prefill_coopmat_plan(const Gpu& gpu, uint32_t head_dim) {
  const std::optional<CoopmatShape>& shape = gpu.coopmat_khr_shape();
  if (!shape || !has_embedded_file("attention_prefill_coopmat_khr.spv")) return std::nullopt;
  return plan_prefill_coopmat(head_dim, *shape, gpu.info().subgroup_size, gpu.limits().maxComputeSharedMemorySize,
                              gpu.limits().maxComputeWorkGroupInvocations);
}

PrefillPipeline choose_prefill_pipeline(const Gpu& gpu, const AttentionArgs& a, bool coopmat) {
  const KvLayerArgs& kv = a.kv;
  // The cooperative-matrix kernel where it is on and has a plan for this head dim, else the scalar one.
  const std::optional<PrefillCoopmatPlan> cm = coopmat ? prefill_coopmat_plan(gpu, kv.head_dim) : std::nullopt;
  if (cm) return {{"attention_prefill_coopmat_khr", attn_spec(cm->workgroup, kv, cm->fm, cm->fn, cm->fk, cm->keys)}, cm->rows()};
  const bool cpu = gpu.props().deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  const uint64_t shared = gpu.limits().maxComputeSharedMemorySize;
  const attn::PrefillTile tile =
      attn::prefill_tile(kv.head_dim, shared, a.config, shared, cpu ? 0 : attn::kGpuPrefillTileElems);
  return {{"attention_prefill", attn_spec(attn::kPrefillWorkgroup, kv, tile.rows, tile.keys)}, tile.rows};
}

void AttentionKernels::prefill(const AttentionArgs& a) {
  const KvLayerArgs& kv = a.kv;
  const PrefillPipeline choice = choose_prefill_pipeline(gpu_, a, prefill_coopmat_);
  const uint32_t tile_rows = choice.tile_rows;
  const uint64_t rows = uint64_t(a.max_q) * (a.q_heads / kv.kv_heads);  // (query, query head) pairs per kv head
  const uint64_t gx = (rows + tile_rows - 1) / tile_rows;
  const uint64_t gy = uint64_t(a.batch) * kv.kv_heads;
  if (gx > gpu_.limits().maxComputeWorkGroupCount[0] || gy > gpu_.limits().maxComputeWorkGroupCount[1])
    throw Error(ErrorCode::Unsupported, "vulkan attention: prefill grid exceeds the device's workgroup count limits");
  const BufferUse sink{&dummy_, 0, 16, true};
  auto b = bindings(a, whole(a.out, true, "the output"), sink);
  AttnPush p = attn_push(a);
  last_kernel_ = choice.kernel;
  const Pipeline& pipe = pipelines_.get(choice, 12);
  stream_.dispatch(pipe, b, &p, sizeof p, uint32_t(gx), uint32_t(gy));
}

}  // namespace lowbit::detail::vk
