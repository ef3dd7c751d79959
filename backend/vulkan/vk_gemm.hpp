// vk_gemm.hpp — records the GEMM family (shaders/glsl/gemm_*.comp, gather.comp): picks the path's
// pipeline variant (specialization constants), chooses split-K, binds weights larger than one
// storage binding in pieces (int4 by K slices, fp16 by column ranges), and adds the reduce pass.
#pragma once

#include <cstdlib>

#include "backend/device.hpp"
#include "backend/vulkan/vk_stream.hpp"

namespace lowbit::detail::vk {

class GemmKernels {
 public:
  GemmKernels(const Gpu& gpu, Pipelines& pipelines, Stream& stream, Allocator& allocator, const VulkanBuffer& dummy)
      : gpu_(gpu), pipelines_(pipelines), stream_(stream), allocator_(allocator), dummy_(dummy),
        f16_dequant_(gpu.info().fp16 && std::getenv("LOWBIT_VK_NO_F16_DEQUANT") == nullptr) {}

  GemmLaunch gemm(const GemmArgs& a);  // returns how it was launched
  void gather(const GatherArgs& a);

 private:
  const Gpu& gpu_;
  Pipelines& pipelines_;
  Stream& stream_;
  Allocator& allocator_;
  const VulkanBuffer& dummy_;  // bound where a variant has no scales / zeros / bias
  // int4 GEMV dequantizes with fp16 arithmetic (the exponent trick) where the device has it;
  // $LOWBIT_VK_NO_F16_DEQUANT selects the portable fp32 path (tests run both).
  const bool f16_dequant_;
};

}  // namespace lowbit::detail::vk
