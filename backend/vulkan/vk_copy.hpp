// vk_copy.hpp — Context::copy on Vulkan: a compute kernel (shaders/glsl/copy.comp) on GPUs, where the
// transfer command is slower (an H100 moved 846 GB/s with vkCmdCopyBuffer against 2947 GB/s with a copy
// kernel), vkCmdCopyBuffer on CPU drivers, for sizes that are not whole 16-byte words, for buffers larger
// than one storage binding, and for wrapped buffers without storage usage. LOWBIT_VK_COPY=kernel|transfer
// forces either (kernel still falls back where it cannot run).
#pragma once

#include "backend/vulkan/vk_stream.hpp"

namespace lowbit::detail::vk {

class CopyKernel {
 public:
  CopyKernel(const Gpu& gpu, Pipelines& pipelines, Stream& stream) : gpu_(gpu), pipelines_(pipelines), stream_(stream) {}
  // Records dst[0, bytes) = src[0, bytes) as one timed op (both buffers checked by Stream::check_copy).
  void copy(const VulkanBuffer& src, const VulkanBuffer& dst, uint64_t bytes);
  // Whether copy() takes the kernel for these buffers and size (the transfer command otherwise).
  bool uses_kernel(const VulkanBuffer& src, const VulkanBuffer& dst, uint64_t bytes) const;

 private:
  const Gpu& gpu_;
  Pipelines& pipelines_;
  Stream& stream_;
};

}  // namespace lowbit::detail::vk
