// vk_convert.hpp — records quantize / dequantize (shaders/glsl/convert.comp) into the stream: picks the
// pipeline variant (specialization constants), splits tensors into row chunks whose bindings fit the
// device's max storage-buffer range, and runs the NVFP4 amax pass when no tensor scale is given.
#pragma once

#include "backend/device.hpp"
#include "backend/vulkan/vk_stream.hpp"

namespace lowbit::detail::vk {

class ConvertKernels {
 public:
  ConvertKernels(const Gpu& gpu, Pipelines& pipelines, Stream& stream, const VulkanBuffer& dummy)
      : gpu_(gpu), pipelines_(pipelines), stream_(stream), dummy_(dummy) {}

  void quantize(const QuantizeArgs& a);
  void dequantize(const DequantizeArgs& a);

 private:
  uint32_t max_workgroup() const;  // invocations per workgroup the device allows
  const Gpu& gpu_;
  Pipelines& pipelines_;
  Stream& stream_;
  const VulkanBuffer& dummy_;  // bound where a variant has no scales / tensor scale
};

}  // namespace lowbit::detail::vk
