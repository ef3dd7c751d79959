// vk_attention.hpp — records kv_append (shaders/glsl/kv_append.comp) and attention over the paged,
// quantized KV cache (shaders/glsl/attention.comp: decode with split-K + merge, prefill; prefill on KHR
// cooperative matrices: attention_prefill_coopmat_khr.comp, where the device allows it) into the stream.
#pragma once

#include <array>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/attention_plan.hpp"
#include "backend/device.hpp"
#include "backend/vulkan/prefill_coopmat_plan.hpp"
#include "backend/vulkan/vk_stream.hpp"

namespace lowbit::detail::vk {

// Lanes of a row that may combine values by subgroup shuffles: the subgroup size (capped at 16), or 0
// when shuffles are off ($LOWBIT_VK_NO_SHUFFLE), the device lacks them in compute shaders, or
// pipelines cannot require full subgroups (the shuffle paths then also need a workgroup that is a
// multiple of Gpu::full_subgroups_max()).
uint32_t attention_shuffle_lanes(const Gpu& gpu);

// The decode pipeline for a's shapes and knobs on this device: the shader, its specialization constants and
// whether it needs full subgroups (the shuffle variant), with the plan (workgroups, splits). Reads only a's shape fields, not its
// buffers, so tools/kernel_stats compiles the same pipelines on devices it cannot run on.
struct DecodePipeline : PipelineChoice {
  attn::DecodePlan plan;
};
DecodePipeline choose_decode_pipeline(const Gpu& gpu, const AttentionArgs& a);

// The cooperative-matrix prefill's plan for head dim d on this device: none without a usable KHR shape (Gpu),
// without its shader in this build (glslang 13), or where no tile fits (prefill_coopmat_plan.hpp).
std::optional<PrefillCoopmatPlan> prefill_coopmat_plan(const Gpu& gpu, uint32_t head_dim);

// The prefill pipeline (the same way as choose_decode_pipeline): the cooperative-matrix kernel where `coopmat`
// (it passed its first-use check) and it has a plan, else the scalar one; tile_rows = (query, head) rows per
// workgroup.
struct PrefillPipeline : PipelineChoice {
  uint32_t tile_rows = 0;
};
PrefillPipeline choose_prefill_pipeline(const Gpu& gpu, const AttentionArgs& a, bool coopmat);

// The kv_append pipeline for `tokens` new tokens of layer `kv` (the same way): rows and lanes per workgroup
// from attn::plan_kv_append, shuffles where whole subgroups are guaranteed; tuned_rows = KernelConfig::rows.
struct KvAppendPipeline : PipelineChoice {
  attn::KvAppendPlan plan;
};
KvAppendPipeline choose_kv_append_pipeline(const Gpu& gpu, const KvLayerArgs& kv, uint64_t tokens, int tuned_rows);

class AttentionKernels {
 public:
  AttentionKernels(const Gpu& gpu, Pipelines& pipelines, Stream& stream, Allocator& allocator,
                   const VulkanBuffer& dummy)
      : gpu_(gpu), pipelines_(pipelines), stream_(stream), allocator_(allocator), dummy_(dummy) {}

  void kv_append(const KvAppendArgs& a);
  void attention(const AttentionArgs& a);
  // Whether prefills run the cooperative-matrix kernel (where it has a plan); off = the scalar kernel. The
  // device turns it on only after the kernel passed its first-use check (vk_prefill_check.hpp).
  void use_prefill_coopmat(bool on) { prefill_coopmat_ = on; }
  // The shader the last attention() ran ("attention_prefill", "attention_prefill_coopmat_khr", "attention_decode", ...).
  const std::string& last_kernel() const { return last_kernel_; }

 private:
  void decode(const AttentionArgs& a);
  void prefill(const AttentionArgs& a);
  // Whole-buffer binding; throws Unsupported when the buffer exceeds the device's binding range.
  BufferUse whole(const DeviceBuffer* b, bool write, const char* what) const;
  std::array<BufferUse, 12> bindings(const AttentionArgs& a, BufferUse out, BufferUse part) const;

  const Gpu& gpu_;
  Pipelines& pipelines_;
  Stream& stream_;
  Allocator& allocator_;
  const VulkanBuffer& dummy_;                // bound where a format has no scales / zeros
  std::shared_ptr<VulkanBuffer> partials_;   // decode split-K scratch, grown on demand
  bool prefill_coopmat_ = false;
  std::string last_kernel_;
};

}  // namespace lowbit::detail::vk
