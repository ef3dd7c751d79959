// vk_gemm_w4a8.hpp — records gemm_w4a8 (shaders/glsl/gemm_w4a8.comp): the plan of backend/w4a8_plan.hpp,
// the integer dot-product or portable variant, and the int32 split-K reduce pass.
#pragma once

#include "backend/device.hpp"
#include "backend/vulkan/vk_device_profile.hpp"
#include "backend/vulkan/vk_stream.hpp"

namespace lowbit::detail::vk {

class W4A8Kernels {
 public:
  W4A8Kernels(const Gpu& gpu, Pipelines& pipelines, Stream& stream, Allocator& allocator, const VulkanBuffer& dummy)
      : gpu_(gpu), pipelines_(pipelines), stream_(stream), allocator_(allocator), dummy_(dummy),
        profile_(device_profile(gpu)) {}

  // Records the GEMM; returns how it was launched.
  GemmLaunch gemm(const GemmW4A8Args& a);

 private:
  const Gpu& gpu_;
  Pipelines& pipelines_;
  Stream& stream_;
  Allocator& allocator_;
  const VulkanBuffer& dummy_;  // bound where there is no bias / no partials
  const DeviceProfile profile_;
};

}  // namespace lowbit::detail::vk
