// vk_kv_append.cpp — kv_append recording: quantizes the new K and V rows into their cache slots with
// shaders/glsl/kv_append.comp (K and V in one dispatch; lanes and rows per workgroup from
// attn::plan_kv_append), binding the fp16 inputs in token windows when they exceed one binding.
#include <algorithm>
#include <array>
#include <thread>
#include <vector>

#include "backend/attention_plan.hpp"
#include "backend/vulkan/vk_attention.hpp"

namespace lowbit::detail::vk {

namespace {

// Must match `Params` in kv_append.comp.
struct AppendPush {
  uint32_t rows, kv_heads, per_head;
};

const VulkanBuffer& vkbuf(const DeviceBuffer* b) { return *static_cast<const VulkanBuffer*>(b); }

}  // namespace

KvAppendPipeline choose_kv_append_pipeline(const Gpu& gpu, const KvLayerArgs& kv, uint64_t tokens, int tuned_rows) {
  const bool cpu = gpu.props().deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  const uint64_t target = cpu ? 2 * std::max(1u, std::thread::hardware_concurrency()) : 512;
  const uint32_t sg = attention_shuffle_lanes(gpu);
  // a row's lanes reduced by shuffles only in whole subgroups (lanes per row <= the subgroup size)
  const uint32_t whole = sg ? gpu.full_subgroups_max() : 1;
  const uint64_t rows = tokens * kv.kv_heads;
  const attn::KvAppendPlan plan = attn::plan_kv_append(kv.head_dim, 2 * rows, sg ? sg : 8, target, whole, tuned_rows);
  const bool shuffle = sg && plan.workgroup() % whole == 0;
  return {{shuffle ? "kv_append_sg" : "kv_append",
           {plan.workgroup(), uint32_t(kv.format), kv.head_dim, plan.rows_per_group, plan.lanes_per_row}, shuffle},
          plan};
}

void AttentionKernels::kv_append(const KvAppendArgs& a) {
  const KvLayerArgs& kv = a.kv;
  attn::check_head_dim(kv.head_dim, "vulkan");
  if (!a.tokens) return;
  const uint64_t row_bytes = uint64_t(kv.kv_heads) * kv.head_dim * 2;  // one token of k_new / v_new
  const uint64_t range = gpu_.max_binding_range();
  const uint64_t align = std::max<uint64_t>(gpu_.limits().minStorageBufferOffsetAlignment, 4);
  uint64_t step = a.tokens;
  if (a.tokens * row_bytes > range) {
    const uint64_t q = std::max<uint64_t>(1, align / 4);  // token starts whose byte offsets stay aligned
    step = (range - align) / row_bytes / q * q;
    if (step == 0)
      throw Error(ErrorCode::Unsupported, "vulkan kv_append: one token's rows exceed the storage-buffer range");
  }
  const bool ints = attn::kv_int_format(kv.format), fp8 = attn::kv_fp8_format(kv.format);
  const BufferUse scratch{&dummy_, 0, 16, true};  // the shader may write 5..8: never read-only
  const BufferUse none{&dummy_, 0, 16, false};
  auto codes = [&](DeviceBuffer* b) { return whole(b, true, "the KV cache layer"); };
  auto int_use = [&](DeviceBuffer* b, const char* what) { return ints ? whole(b, true, what) : scratch; };
  auto fp8_use = [&](DeviceBuffer* b) { return fp8 ? whole(b, false, "the FP8 scales") : none; };
  const VulkanBuffer& kb = vkbuf(a.k_new);
  const VulkanBuffer& vb = vkbuf(a.v_new);
  const VulkanBuffer& slots = vkbuf(a.slots);
  stream_.begin_op();
  for (uint64_t t0 = 0; t0 < a.tokens; t0 += step) {
    const uint64_t n = std::min(step, a.tokens - t0), rows = n * kv.kv_heads;
    const KvAppendPipeline choice = choose_kv_append_pipeline(gpu_, kv, n, a.config.rows);
    const attn::KvAppendPlan& plan = choice.plan;
    const Pipeline& pipe = pipelines_.get(choice, 11);
    std::array<BufferUse, 11> b = {
        BufferUse{&kb, t0 * row_bytes, std::min(kb.capacity() - t0 * row_bytes, range), false},
        BufferUse{&vb, t0 * row_bytes, std::min(vb.capacity() - t0 * row_bytes, range), false},
        BufferUse{&slots, t0 * 4, std::min(slots.capacity() - t0 * 4, range), false},
        codes(kv.k),
        codes(kv.v),
        int_use(kv.k_scale, "the KV scales"),
        int_use(kv.k_zero, "the KV zeros"),
        int_use(kv.v_scale, "the KV scales"),
        int_use(kv.v_zero, "the KV zeros"),
        fp8_use(kv.k_scale),
        fp8_use(kv.v_scale)};
    AppendPush p{uint32_t(rows), kv.kv_heads, kv.fp8_per_head ? 1u : 0u};
    const uint64_t gx = std::min<uint64_t>(plan.groups, gpu_.limits().maxComputeWorkGroupCount[0]);
    const uint64_t gy = (plan.groups + gx - 1) / gx;
    if (gy > gpu_.limits().maxComputeWorkGroupCount[1])
      throw Error(ErrorCode::Unsupported, "vulkan kv_append: too many rows for one dispatch");
    stream_.dispatch(pipe, b, &p, sizeof p, uint32_t(gx), uint32_t(gy));
  }
  stream_.end_op();
}

}  // namespace lowbit::detail::vk
