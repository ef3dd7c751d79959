// spirv_bindings.hpp — which storage-buffer bindings (descriptor set 0) a compute shader can never write,
// read off its SPIR-V: every block declared at the binding is NonWritable (GLSL `readonly`). The stream
// checks each dispatch against it, so that no op records a read-only binding as written (which would
// cost a needless write barrier and tell the hazard tracking the buffer changed).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace lowbit::detail::vk {

// readonly[i] for bindings 0..bindings-1 (true for a binding the shader does not declare). Throws
// Error(Internal) for words that are not a SPIR-V module.
std::vector<bool> spirv_readonly_bindings(std::span<const uint32_t> words, uint32_t bindings);

}  // namespace lowbit::detail::vk
