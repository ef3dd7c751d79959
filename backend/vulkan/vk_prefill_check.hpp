// vk_prefill_check.hpp — the first-use check of the KHR cooperative-matrix prefill attention (see
// vk_first_use.hpp): on a small ragged GQA problem in one KV format and head dim, the cooperative-matrix
// kernel must agree with the scalar prefill on the same device (causal, bidirectional with softcap, window).
#pragma once

#include <cstdint>

#include "backend/device.hpp"
#include "backend/vulkan/vk_attention.hpp"

namespace lowbit::detail::vk {

// True when they agree; a disagreement is logged. Throws what the driver or allocator throws (the caller,
// check_or_log, counts that as a failure). Leaves `kernels` with the cooperative-matrix prefill off.
bool prefill_coopmat_agrees(Device& dev, AttentionKernels& kernels, int format, uint32_t head_dim);

}  // namespace lowbit::detail::vk
