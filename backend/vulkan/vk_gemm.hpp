// vk_gemm.hpp — records the GEMM family (shaders/glsl/gemm_*.comp, gather.comp): picks the path's
// pipeline variant (specialization constants), chooses split-K, binds weights larger than one
// storage binding in pieces (int4 by K slices, fp16 by column ranges), and adds the reduce pass.
#pragma once

#include <string>
#include <vector>

#include "backend/device.hpp"
#include "backend/vulkan/vk_device_profile.hpp"
#include "backend/vulkan/vk_stream.hpp"

namespace lowbit::detail::vk {

// Whether the int4 GEMV dequantizes with fp16 arithmetic (the exponent trick): where the device has it;
// $LOWBIT_VK_NO_F16_DEQUANT selects the portable fp32 path (tests run both). Read once per device.
bool gemm_f16_dequant(const Gpu& gpu);

// The GEMM pipeline for a's path, shapes and knobs on this device: the shader, its specialization constants,
// whether it needs full subgroups, the GEMV plan / tile it came from, its shared memory and K-pipeline depth.
// Reads only a's shape fields, not its buffers, so tools/kernel_stats compiles the same pipelines on devices
// it cannot run on. Throws Unsupported for a cooperative-matrix variant the device does not enable.
struct GemmPipeline : PipelineChoice {
  GemvPlan gemv;      // GemmPath::Gemv
  TiledConfig tiled;  // GemmPath::Tiled (planned for every path)
  uint32_t shared_bytes = 0, stages = 1;
};
GemmPipeline choose_gemm_pipeline(const Gpu& gpu, const DeviceProfile& profile, bool f16_dequant, const GemmArgs& a,
                                  CoopmatVariant coopmat = CoopmatVariant::Khr, uint32_t coop_stages_cap = 4);

class GemmKernels {
 public:
  GemmKernels(const Gpu& gpu, Pipelines& pipelines, Stream& stream, Allocator& allocator, const VulkanBuffer& dummy)
      : gpu_(gpu), pipelines_(pipelines), stream_(stream), allocator_(allocator), dummy_(dummy),
        f16_dequant_(gemm_f16_dequant(gpu)), profile_(device_profile(gpu)) {}

  // Records the GEMM; returns how it was launched.
  GemmLaunch gemm(const GemmArgs& a);
  void gather(const GatherArgs& a);
  // Which cooperative-matrix shader the CoopMatrix path runs (one of gpu.coopmat_variants()).
  void use_coopmat(CoopmatVariant v) { coopmat_ = v; }
  CoopmatVariant coopmat() const { return coopmat_; }
  // The deepest K pipeline the KHR cooperative-matrix GEMM may run (2 after a deeper one failed its check).
  void cap_coopmat_stages(uint32_t s) { coopmat_stages_cap_ = s; }
  uint32_t coopmat_stages_cap() const { return coopmat_stages_cap_; }

 private:
  const Gpu& gpu_;
  Pipelines& pipelines_;
  Stream& stream_;
  Allocator& allocator_;
  const VulkanBuffer& dummy_;  // bound where a variant has no scales / zeros / bias
  const bool f16_dequant_;     // gemm_f16_dequant, read when the device was made
  const DeviceProfile profile_;  // what the launch planner knows of the device
  CoopmatVariant coopmat_ = CoopmatVariant::Khr;
  uint32_t coopmat_stages_cap_ = 4;
};

}  // namespace lowbit::detail::vk
