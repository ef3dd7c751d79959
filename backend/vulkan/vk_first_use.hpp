// vk_first_use.hpp — the first-use check of the cooperative-matrix paths (the GEMM's KHR / NV variants, the
// KHR prefill attention), which CI cannot run (lavapipe has no matrix units): before a path is used on a
// device it must agree with the portable path on a small problem; one that disagrees, or whose pipeline the
// driver cannot create, is logged once and the portable path stays. The pieces both checks share.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/device.hpp"

namespace lowbit::detail::vk {

enum class FirstUse { Unchecked, Passed, Failed };

// What a call on the path does, from the path's state: check it now, use it, or take the portable path (it
// failed, or it is unchecked while ops record into the application's command buffer: the check's downloads
// cannot run there, so the portable path serves until a call outside record mode checks it).
enum class FirstUseStep { Check, Use, Fallback };
inline FirstUseStep first_use_step(FirstUse state, bool recording) {
  if (state == FirstUse::Passed) return FirstUseStep::Use;
  return state == FirstUse::Unchecked && !recording ? FirstUseStep::Check : FirstUseStep::Fallback;
}

// Runs `check` (true: the path agreed). An exception — the driver refusing the shader or its specialization,
// an allocation failing — counts as a failure, logged as "vulkan: the <what> cannot run on <device> (...)".
bool check_or_log(const std::string& what, const std::string& device, const std::function<bool()>& check);

// Whether `got` agrees with `ref` within 1% of ref's largest magnitude plus 1e-3 (fp16 operands on matrix
// units against fp32 arithmetic); `diff` and `peak` receive the largest difference and magnitude.
bool agrees(const std::vector<float>& got, const std::vector<float>& ref, float& diff, float& peak);

// fp16 bit patterns of magnitude [2^e, 2^(e+1)·(1 + 3/4)) with random signs, e from `exponent_bits` (0x3000:
// [0.125, 0.44)): no infinities, NaNs or subnormals.
std::vector<uint16_t> random_halves(std::mt19937& rng, size_t n, uint16_t exponent_bits);

// A device buffer holding `bytes` bytes from `data`, and `count` fp32 values read back from one.
std::shared_ptr<DeviceBuffer> upload(Device& dev, const void* data, size_t bytes);
std::vector<float> download_f32(Device& dev, const DeviceBuffer& b, size_t count);

}  // namespace lowbit::detail::vk
