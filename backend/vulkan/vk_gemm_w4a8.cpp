// vk_gemm_w4a8.cpp — gemm_w4a8 recording: plan, variant (_dot where the device enabled integer dot
// products), one dispatch, and the reduce pass when K is split.
#include "backend/vulkan/vk_gemm_w4a8.hpp"

#include <array>
#include <string>

#include "backend/kernel_params.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail::vk {

namespace {

constexpr uint32_t kFlagBias = 1, kFlagOutF32 = 4, kFlagBiasF32 = 8;
constexpr uint32_t kReduceWg = 256;
constexpr uint32_t kBindings = 9;

// Must match `W4A8Params` in gemm_w4a8.comp.
struct Push {
  uint32_t M, N, K, group, k_split, splits, flags;
};

const VulkanBuffer& vkbuf(const DeviceBuffer* b) { return *static_cast<const VulkanBuffer*>(b); }

}  // namespace

GemmLaunch W4A8Kernels::gemm(const GemmW4A8Args& a) {
  const W4A8Plan plan = plan_w4a8(profile_, a.path == GemmPath::Gemv, a.m, a.n, a.k, a.group, a.split_k, a.config);
  const uint64_t range = gpu_.max_binding_range();
  const VulkanBuffer &act = vkbuf(a.a), &w = vkbuf(a.qweight), &s2 = vkbuf(a.s2), &zeros = vkbuf(a.zeros),
                     &a_scale = vkbuf(a.a_scale), &s1 = vkbuf(a.s1), &y = vkbuf(a.y);
  const VulkanBuffer& bias = a.bias ? vkbuf(a.bias) : dummy_;
  for (const VulkanBuffer* b : {&act, &w, &s2, &zeros, &a_scale, &s1, &bias, &y})
    if (b->capacity() > range)
      throw Error(ErrorCode::Unsupported, "gemm_w4a8: a buffer of " + std::to_string(b->capacity()) +
                                              " bytes exceeds the device's storage-binding range (" + std::to_string(range) + ")");
  std::shared_ptr<VulkanBuffer> partials;
  if (plan.splits > 1) {
    partials = allocator_.create_pooled(size_t(plan.splits) * a.m * a.n * 4);
    if (partials->capacity() > range)
      throw Error(ErrorCode::Unsupported, "gemm_w4a8: split-K partials exceed the storage-binding range; use fewer splits");
  }
  const VulkanBuffer& part = partials ? *partials : dummy_;

  const bool dot = gpu_.integer_dot_product();
  std::string shader = std::string(plan.gemv ? "gemm_w4a8_gemv" : "gemm_w4a8_tiled") + (dot ? "_dot" : "");
  const Pipeline& pipe = pipelines_.get(shader, kBindings, w4a8_params(plan).values);

  Push p{uint32_t(a.m), uint32_t(a.n), uint32_t(a.k), uint32_t(a.group), plan.k_split, plan.splits,
         (a.bias ? kFlagBias : 0) | (a.bias && a.bias_f32 ? kFlagBiasF32 : 0) | (a.out_elem == LB_FMT_F32 ? kFlagOutF32 : 0)};
  auto use = [&](const VulkanBuffer& b, bool write) { return BufferUse{&b, 0, b.capacity(), write}; };
  std::array<BufferUse, kBindings> b = {use(act, false),     use(w, false),  use(s2, false),
                                        use(zeros, false),   use(a_scale, false), use(s1, false),
                                        use(bias, false),    use(y, plan.splits == 1), use(part, plan.splits > 1)};
  stream_.begin_op();
  stream_.dispatch(pipe, b, &p, sizeof p, uint32_t(plan.groups_x), uint32_t(plan.groups_y), plan.gemv ? 1u : plan.splits);
  if (plan.splits > 1) {
    const Pipeline& red = pipelines_.get("gemm_w4a8_reduce", kBindings, {});
    b[7] = use(y, true), b[8] = use(part, false);
    stream_.dispatch(red, b, &p, sizeof p, uint32_t((a.m * a.n + kReduceWg - 1) / kReduceWg), 1, 1);
  }
  stream_.end_op();
  return GemmLaunch{.kernel = shader, .workgroups = plan.workgroups(), .invocations_per_workgroup = plan.wg(),
                    .shared_bytes = plan.shared_bytes(), .stages = 1, .split_k = plan.splits, .k_partitions = 1};
}

}  // namespace lowbit::detail::vk
