// vk_act_quant.hpp — records quantize_activations_int8 (shaders/glsl/act_quant.comp): one workgroup per
// row, fp16/fp32 activations and RMSNorm weight chosen by specialization constants.
#pragma once

#include "backend/device.hpp"
#include "backend/vulkan/vk_stream.hpp"

namespace lowbit::detail::vk {

void record_act_quant(const Gpu& gpu, Pipelines& pipelines, Stream& stream, const VulkanBuffer& dummy,
                      const ActQuantArgs& a);

}  // namespace lowbit::detail::vk
