// vk_copy.cpp — see vk_copy.hpp.
#include "backend/vulkan/vk_copy.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <string>

#include "backend/vulkan/vk_device_profile.hpp"

namespace lowbit::detail::vk {

namespace {

// LOWBIT_VK_COPY: "kernel" / "transfer" forces one form; anything else (or unset) is the device's default.
std::string forced_form() {
  const char* e = std::getenv("LOWBIT_VK_COPY");
  return e ? e : "";
}

}  // namespace

bool CopyKernel::uses_kernel(const VulkanBuffer& src, const VulkanBuffer& dst, uint64_t bytes) const {
  const std::string form = forced_form();
  if (form == "transfer") return false;
  const bool gpu = gpu_.props().deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
  if (form != "kernel" && !gpu) return false;  // CPU drivers: the transfer command is a memcpy
  constexpr VkBufferUsageFlags storage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  return bytes % 16 == 0 && bytes / 16 <= 0xFFFFFFFFull && bytes <= gpu_.max_binding_range() &&
         (src.usage() & storage) && (dst.usage() & storage);
}

void CopyKernel::copy(const VulkanBuffer& src, const VulkanBuffer& dst, uint64_t bytes) {
  Stream::check_copy(src, dst);  // before begin_op: a refused copy leaves no timestamp behind
  if (!uses_kernel(src, dst, bytes)) {
    stream_.begin_op();  // timed like a kernel
    stream_.copy(src, 0, dst, 0, bytes);
    stream_.end_op();
    return;
  }
  const Pipeline& pipe = pipelines_.get("copy", 2, {});
  const std::array<BufferUse, 2> b = {BufferUse{&src, 0, bytes, false}, BufferUse{&dst, 0, bytes, true}};
  const uint32_t words = uint32_t(bytes / 16);
  // 4 words per invocation and trip; up to 8 workgroups of 256 per compute unit, fewer for small copies
  const uint32_t units = device_profile(gpu_).compute_units;
  const uint64_t cu = units ? units : 128;  // unknown: assume a big GPU
  const uint64_t groups = std::clamp<uint64_t>((uint64_t(words) + 1023) / 1024, 1, 8 * cu);
  stream_.begin_op();
  stream_.dispatch(pipe, b, &words, sizeof words, uint32_t(groups), 1, 1);
  stream_.end_op();
}

}  // namespace lowbit::detail::vk
