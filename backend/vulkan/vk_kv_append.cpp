// vk_kv_append.cpp — kv_append recording: quantizes the new K and V rows into their cache slots with
// shaders/glsl/kv_append.comp (one invocation per cache word, a few (token, kv head) rows per
// workgroup), binding the fp16 inputs in token windows when they exceed one binding.
#include <algorithm>
#include <array>

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
  const uint32_t words = attn::kv_append_words_per_row(kv.head_dim, kv.format), rpw = attn::kv_append_rows_per_group(words, a.config.rows);
  std::vector<uint32_t> spec = {rpw * words, uint32_t(kv.format), kv.head_dim, rpw};
  const Pipeline& pipe = pipelines_.get("kv_append", 6, spec);
  const bool ints = attn::kv_int_format(kv.format), fp8 = attn::kv_fp8_format(kv.format);
  stream_.begin_op();
  for (int side = 0; side < 2; ++side) {
    const DeviceBuffer* src = side ? a.v_new : a.k_new;
    DeviceBuffer* codes = side ? kv.v : kv.k;
    DeviceBuffer* scale = side ? kv.v_scale : kv.k_scale;
    DeviceBuffer* zero = side ? kv.v_zero : kv.k_zero;
    const BufferUse scratch{&dummy_, 0, 16, true};  // the shader may write 3 and 4: never read-only
    BufferUse codes_use = whole(codes, true, "the KV cache layer");
    BufferUse scale_use = ints ? whole(scale, true, "the KV scales") : scratch;
    BufferUse zero_use = ints ? whole(zero, true, "the KV zeros") : scratch;
    BufferUse fp8_use = fp8 ? whole(scale, false, "the FP8 scales") : BufferUse{&dummy_, 0, 16, false};
    for (uint64_t t0 = 0; t0 < a.tokens; t0 += step) {
      const uint64_t n = std::min(step, a.tokens - t0);
      const VulkanBuffer& sb = vkbuf(src);
      const VulkanBuffer& slots = vkbuf(a.slots);
      std::array<BufferUse, 6> b = {
          BufferUse{&sb, t0 * row_bytes, std::min(sb.capacity() - t0 * row_bytes, range), false},
          BufferUse{&slots, t0 * 4, std::min(slots.capacity() - t0 * 4, range), false}, codes_use, scale_use,
          zero_use, fp8_use};
      AppendPush p{uint32_t(n * kv.kv_heads), kv.kv_heads, kv.fp8_per_head ? 1u : 0u};
      const uint64_t groups = (n * kv.kv_heads + rpw - 1) / rpw;
      const uint64_t gx = std::min<uint64_t>(groups, gpu_.limits().maxComputeWorkGroupCount[0]);
      const uint64_t gy = (groups + gx - 1) / gx;
      if (gy > gpu_.limits().maxComputeWorkGroupCount[1])
        throw Error(ErrorCode::Unsupported, "vulkan kv_append: too many rows for one dispatch");
      stream_.dispatch(pipe, b, &p, sizeof p, uint32_t(gx), uint32_t(gy));
    }
  }
  stream_.end_op();
}

}  // namespace lowbit::detail::vk
