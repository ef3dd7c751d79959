// vk_act_quant.cpp — quantize_activations_int8 recording (see vk_act_quant.hpp).
#include "backend/vulkan/vk_act_quant.hpp"

#include <algorithm>
#include <array>
#include <bit>

#include "backend/vulkan/vk_gpu.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail::vk {

namespace {

// Must match `Params` in act_quant.comp.
struct ActQuantPush {
  uint32_t m, k, eps_bits;
};

BufferUse bind(const DeviceBuffer* b, bool write, uint64_t range, const char* what) {
  const auto& vb = *static_cast<const VulkanBuffer*>(b);
  if (vb.capacity() > range)
    throw Error(ErrorCode::Unsupported,
                std::string("vulkan quantize_activations_int8: ") + what + " exceed the device's storage-binding range");
  return BufferUse{&vb, 0, vb.capacity(), write};
}

}  // namespace

void record_act_quant(const Gpu& gpu, Pipelines& pipelines, Stream& stream, const VulkanBuffer& dummy,
                      const ActQuantArgs& a) {
  const uint64_t range = gpu.max_binding_range();
  const bool x_f32 = a.x_elem == LB_FMT_F32, rms = a.rms_weight != nullptr,
             w_f32 = rms && a.rms_weight_elem == LB_FMT_F32;
  uint32_t wg = 1;  // a power of two dividing LB_ACT_LANES
  while (wg * 2 <= LB_ACT_LANES && wg * 2 <= gpu.limits().maxComputeWorkGroupInvocations) wg *= 2;
  const Pipeline& pipe = pipelines.get("act_quant", 7, {wg, x_f32, rms, w_f32});
  const BufferUse none{&dummy, 0, 16, false};
  const BufferUse x = bind(a.x, false, range, "the activations");
  const BufferUse w = rms ? bind(a.rms_weight, false, range, "the RMSNorm weight") : none;
  std::array<BufferUse, 7> b = {x_f32 ? none : x, x_f32 ? x : none, w_f32 || !rms ? none : w, w_f32 ? w : none,
                                bind(a.codes, true, range, "the codes"), bind(a.scales, true, range, "the scales"),
                                bind(a.sums, true, range, "the row sums")};
  ActQuantPush p{uint32_t(a.m), uint32_t(a.k), std::bit_cast<uint32_t>(a.eps)};
  const uint64_t gx = std::min<uint64_t>(a.m, gpu.limits().maxComputeWorkGroupCount[0]);
  const uint64_t gy = (a.m + gx - 1) / gx;
  if (gy > gpu.limits().maxComputeWorkGroupCount[1])
    throw Error(ErrorCode::Unsupported, "vulkan quantize_activations_int8: too many rows for one dispatch");
  stream.begin_op();
  stream.dispatch(pipe, b, &p, sizeof p, uint32_t(gx), uint32_t(gy));
  stream.end_op();
}

}  // namespace lowbit::detail::vk
