// engines.hpp — the example engine's two device runs of the block (block.hpp): on its own Vulkan device with
// lowbit recording into its command buffers, and on its own OpenCL context / queue with events in and out.
#pragma once

#include <vector>

#include "block.hpp"
#include "no_device.hpp"

namespace example {

class AppVulkan;

std::vector<float> vulkan_decode(AppVulkan& app, const BlockWeights& w, int steps);
// `out_of_order`: create the queue with CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE (ordering by events only).
std::vector<float> opencl_decode(const BlockWeights& w, int steps, bool out_of_order);

}  // namespace example
