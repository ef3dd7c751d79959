// vulkan_engine.cpp — the block's decode steps on the engine's own Vulkan device: one command buffer per step
// holds the engine's commands (a fill, RMSNorm, residual adds, SiLU·up: its own shaders) with lowbit's ops
// recorded in between (Context::record_into), separated by the barriers lowbit's contract asks for.
#include <cstring>
#include <mutex>

#include "app_vulkan.hpp"
#include "block.hpp"
#include "engines.hpp"
#include "residual_add.spv.h"
#include "rmsnorm.spv.h"
#include "silu_mul.spv.h"

namespace example {

using namespace lowbit;

namespace {

constexpr VkBufferUsageFlags kAppUsage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

void barrier(VkCommandBuffer c, VkPipelineStageFlags src, VkAccessFlags src_access, VkPipelineStageFlags dst,
             VkAccessFlags dst_access) {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = src_access;
  mb.dstAccessMask = dst_access;
  vkCmdPipelineBarrier(c, src, dst, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

// The engine's writes (its shaders) -> a lowbit op reading them: what lowbit assumes on entry.
void before_lowbit(VkCommandBuffer c) {
  barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
          VK_ACCESS_SHADER_READ_BIT);
}
// lowbit's results (compute-shader or transfer writes) -> the engine's shaders: what lowbit leaves on exit.
void after_lowbit(VkCommandBuffer c) {
  barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
          VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
          VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
}
// Between two of the engine's own dispatches.
void compute_to_compute(VkCommandBuffer c) {
  barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
          VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
}

// A buffer range as the engine's descriptors bind it: its own buffers whole, lowbit's through vulkan_buffer().
struct Range {
  VkBuffer buffer;
  VkDeviceSize offset, size;
};
Range whole(const AppBuffer& b) { return {b.buffer, 0, b.size}; }
Range of(const Context& ctx, const Buffer& b) {
  VulkanBufferRef r = ctx.vulkan_buffer(b);
  return {vk_handle_from_bits<VkBuffer>(r.buffer), r.offset, r.range};
}

class Dispatcher {
 public:
  Dispatcher(VkDevice dev, uint32_t max_sets) : dev_(dev) {
    VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, max_sets * 3};
    VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    ci.maxSets = max_sets;
    ci.poolSizeCount = 1;
    ci.pPoolSizes = &size;
    vkCreateDescriptorPool(dev_, &ci, nullptr, &pool_);
  }
  ~Dispatcher() { vkDestroyDescriptorPool(dev_, pool_, nullptr); }
  void reset() { vkResetDescriptorPool(dev_, pool_, 0); }
  // One dispatch of `p` over three buffers.
  void run(VkCommandBuffer c, const AppPipeline& p, Range b0, Range b1, Range b2, const void* push, uint32_t push_bytes,
           uint32_t groups) {
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pool_;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &p.set_layout;
    VkDescriptorSet set = VK_NULL_HANDLE;
    vkAllocateDescriptorSets(dev_, &ai, &set);
    VkDescriptorBufferInfo infos[3] = {{b0.buffer, b0.offset, b0.size}, {b1.buffer, b1.offset, b1.size},
                                       {b2.buffer, b2.offset, b2.size}};
    VkWriteDescriptorSet writes[3];
    for (uint32_t i = 0; i < 3; ++i) {
      writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
      writes[i].dstSet = set;
      writes[i].dstBinding = i;
      writes[i].descriptorCount = 1;
      writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      writes[i].pBufferInfo = &infos[i];
    }
    vkUpdateDescriptorSets(dev_, 3, writes, 0, nullptr);
    vkCmdBindPipeline(c, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
    vkCmdBindDescriptorSets(c, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
    vkCmdPushConstants(c, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    vkCmdDispatch(c, groups, 1, 1);
  }

 private:
  VkDevice dev_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
};

struct NormPush {
  uint32_t n;
  float eps;
};

}  // namespace

std::vector<float> vulkan_decode(AppVulkan& app, const BlockWeights& w, int steps) {
  const BlockSizes& s = w.s;
  // The engine's queue lock: lowbit takes it around its own submissions.
  static std::mutex queue_mutex;
  VulkanImport import = app.import_info();
  import.queue_lock = [](void* m) { static_cast<std::mutex*>(m)->lock(); };
  import.queue_unlock = [](void* m) { static_cast<std::mutex*>(m)->unlock(); };
  import.queue_lock_user = &queue_mutex;
  Context ctx = Context::import_vulkan(import);
  BlockOnDevice b = upload_block(ctx, w);

  const VkDeviceSize ef32 = VkDeviceSize(s.embed) * 4, ef16 = VkDeviceSize(s.embed) * 2, ff16 = VkDeviceSize(s.ffn) * 2;
  AppBuffer x[2] = {app.create_buffer(ef32, kAppUsage), app.create_buffer(ef32, kAppUsage)};
  AppBuffer g1 = app.create_buffer(ef32, kAppUsage), g2 = app.create_buffer(ef32, kAppUsage);
  AppBuffer h = app.create_buffer(ef32, kAppUsage), xn = app.create_buffer(ef16, kAppUsage);
  AppBuffer hn = app.create_buffer(ef16, kAppUsage), act = app.create_buffer(ff16, kAppUsage);
  std::memcpy(x[0].mapped, w.x0.data(), ef32);
  std::memcpy(g1.mapped, w.gamma1.data(), ef32);
  std::memcpy(g2.mapped, w.gamma2.data(), ef32);
  // The engine's fp16 activations, as lowbit Buffers (lowbit reads them; they stay the engine's).
  auto wrap = [&](const AppBuffer& a, int64_t n) {
    return ctx.wrap_vulkan_buffer(vk_handle_bits(a.buffer), 0, a.size, kVkUsageStorage | kVkUsageTransferDst, DType::F16,
                                  {1, n});
  };
  Buffer xn_b = wrap(xn, s.embed), hn_b = wrap(hn, s.embed), act_b = wrap(act, s.ffn);

  AppPipeline rms = app.create_pipeline(rmsnorm_spv, sizeof rmsnorm_spv, 3, sizeof(NormPush));
  AppPipeline add = app.create_pipeline(residual_add_spv, sizeof residual_add_spv, 3, 4);
  AppPipeline silu = app.create_pipeline(silu_mul_spv, sizeof silu_mul_spv, 3, 4);
  Dispatcher d(app.device(), 8);
  const NormPush norm{uint32_t(s.embed), s.eps};
  const uint32_t n_embed = uint32_t(s.embed), n_ffn = uint32_t(s.ffn);
  const uint32_t embed_groups = uint32_t((s.embed + 63) / 64), ffn_groups = uint32_t((s.ffn + 63) / 64);

  int cur = 0;
  for (int step = 0; step < steps; ++step, cur ^= 1) {
    d.reset();
    VkCommandBuffer c = app.begin_commands();
    // The engine's own work first: the previous step's results are visible, h is cleared.
    barrier(c, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_ACCESS_MEMORY_WRITE_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT,
            VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT);
    vkCmdFillBuffer(c, h.buffer, 0, VK_WHOLE_SIZE, 0);
    barrier(c, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    d.run(c, rms, whole(x[cur]), whole(g1), whole(xn), &norm, sizeof norm, 1);
    before_lowbit(c);
    Recording attn = ctx.record_into(c);
    Buffer o = attention_part(ctx, b, s, xn_b);
    attn.end();
    after_lowbit(c);
    d.run(c, add, whole(x[cur]), of(ctx, o), whole(h), &n_embed, 4, embed_groups);
    compute_to_compute(c);
    d.run(c, rms, whole(h), whole(g2), whole(hn), &norm, sizeof norm, 1);
    before_lowbit(c);
    Recording up = ctx.record_into(c);
    GateUp gu = mlp_up_part(ctx, b, hn_b);
    up.end();
    after_lowbit(c);
    d.run(c, silu, of(ctx, gu.gate), of(ctx, gu.up), whole(act), &n_ffn, 4, ffn_groups);
    before_lowbit(c);
    Recording down = ctx.record_into(c);
    Buffer dn = mlp_down_part(ctx, b, act_b);
    down.end();
    after_lowbit(c);
    d.run(c, add, whole(h), of(ctx, dn), whole(x[cur ^ 1]), &n_embed, 4, embed_groups);
    barrier(c, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
            VK_ACCESS_HOST_READ_BIT);
    app.submit_and_wait(c);
    // The recordings (attn, up, down) go now: the command buffer has finished with their memory.
  }
  std::vector<float> out(size_t(s.embed));
  std::memcpy(out.data(), x[cur].mapped, ef32);

  ctx = Context();  // lowbit's objects go before the device's buffers and pipelines
  for (AppBuffer* a : {&x[0], &x[1], &g1, &g2, &h, &xn, &hn, &act}) app.destroy(*a);
  for (AppPipeline* p : {&rms, &add, &silu}) app.destroy(*p);
  return out;
}

}  // namespace example
