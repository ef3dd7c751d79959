// vk_attention.hpp — records kv_append (shaders/glsl/kv_append.comp) and attention over the paged,
// quantized KV cache (shaders/glsl/attention.comp: decode with split-K + merge, prefill) into the stream.
#pragma once

#include <array>

#include <memory>

#include "backend/device.hpp"
#include "backend/vulkan/vk_stream.hpp"

namespace lowbit::detail::vk {

class AttentionKernels {
 public:
  AttentionKernels(const Gpu& gpu, Pipelines& pipelines, Stream& stream, Allocator& allocator,
                   const VulkanBuffer& dummy)
      : gpu_(gpu), pipelines_(pipelines), stream_(stream), allocator_(allocator), dummy_(dummy) {}

  void kv_append(const KvAppendArgs& a);
  void attention(const AttentionArgs& a);

 private:
  void decode(const AttentionArgs& a);
  void prefill(const AttentionArgs& a);
  // Whole-buffer binding; throws Unsupported when the buffer exceeds the device's binding range.
  BufferUse whole(const DeviceBuffer* b, bool write, const char* what) const;
  std::array<BufferUse, 12> bindings(const AttentionArgs& a, BufferUse out, BufferUse part) const;
  // Lanes of a row that may combine values by subgroup shuffles: the subgroup size (capped at 16), or 0
  // when shuffles are off ($LOWBIT_VK_NO_SHUFFLE), the device lacks them in compute shaders, or
  // pipelines cannot require full subgroups (the shuffle paths then also need a workgroup that is a
  // multiple of Gpu::full_subgroups_max()).
  uint32_t shuffle_lanes() const;

  const Gpu& gpu_;
  Pipelines& pipelines_;
  Stream& stream_;
  Allocator& allocator_;
  const VulkanBuffer& dummy_;                // bound where a format has no scales / zeros
  std::shared_ptr<VulkanBuffer> partials_;   // decode split-K scratch, grown on demand
};

}  // namespace lowbit::detail::vk
