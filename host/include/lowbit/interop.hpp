// interop.hpp — embedding lowbit in an engine: run on the application's own Vulkan device or OpenCL context
// (Context::import_vulkan / import_opencl), record ops into the application's VkCommandBuffer
// (Context::record_into), wrap the application's VkBuffer / cl_mem as lowbit Buffers, and exchange OpenCL
// events. Needs neither <vulkan/vulkan.h> nor <CL/cl.h>: dispatchable handles are declared here exactly as
// those headers declare them, and non-dispatchable Vulkan handles (VkBuffer, VkPipelineCache) travel as
// uint64_t (lowbit::vk_handle_bits converts one). The contract (barriers, ownership, threads) is in the README,
// section "Embedding lowbit in an engine".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "lowbit/lowbit.hpp"

// The same typedefs as vulkan_core.h and cl.h (a repeated identical typedef is valid C++).
typedef struct VkInstance_T* VkInstance;
typedef struct VkPhysicalDevice_T* VkPhysicalDevice;
typedef struct VkDevice_T* VkDevice;
typedef struct VkQueue_T* VkQueue;
typedef struct VkCommandBuffer_T* VkCommandBuffer;
typedef struct _cl_context* cl_context;
typedef struct _cl_device_id* cl_device_id;
typedef struct _cl_command_queue* cl_command_queue;
typedef struct _cl_mem* cl_mem;
typedef struct _cl_event* cl_event;

namespace lowbit {

// A non-dispatchable Vulkan handle (VkBuffer, VkPipelineCache: a pointer on 64-bit targets, uint64_t on
// 32-bit ones) as the uint64_t lowbit takes.
template <class Handle>
uint64_t vk_handle_bits(Handle h) {
  if constexpr (std::is_pointer_v<Handle>) return uint64_t(reinterpret_cast<uintptr_t>(h));
  else return uint64_t(h);
}
// ... and back: vk_handle_from_bits<VkBuffer>(ref.buffer).
template <class Handle>
Handle vk_handle_from_bits(uint64_t bits) {
  if constexpr (std::is_pointer_v<Handle>) return reinterpret_cast<Handle>(uintptr_t(bits));
  else return Handle(bits);
}

// The application's Vulkan device. lowbit never creates or destroys any of these objects; it creates its
// own command pool, query pool, pipelines, descriptor pools and memory on `device` and destroys them when
// the Context goes. Requirements (checked; a missing one is Error(Unsupported) naming it): Vulkan 1.2,
// a queue family with compute, storageBuffer8BitAccess and storageBuffer16BitAccess enabled.
struct VulkanImport {
  VkInstance instance = nullptr;
  VkPhysicalDevice physical_device = nullptr;
  VkDevice device = nullptr;
  uint32_t queue_family = 0;  // must support VK_QUEUE_COMPUTE_BIT
  VkQueue queue = nullptr;    // a queue of queue_family; lowbit submits its own work (uploads...) here
  // Serialise vkQueueSubmit with the application's threads: lowbit calls queue_lock(user) before and
  // queue_unlock(user) after every use of `queue` (both or neither).
  void (*queue_lock)(void* user) = nullptr;
  void (*queue_unlock)(void* user) = nullptr;
  void* queue_lock_user = nullptr;
  uint64_t pipeline_cache = 0;  // optional VkPipelineCache (vk_handle_bits); lowbit then keeps no cache file
  // What the application enabled on `device` (Vulkan cannot be asked): the pNext chain it passed to
  // vkCreateDevice, e.g. a VkPhysicalDeviceFeatures2 followed by VkPhysicalDeviceVulkan11Features /
  // VkPhysicalDeviceVulkan12Features (or 16BitStorage / 8BitStorage / ShaderFloat16Int8 structs).
  const void* enabled_features = nullptr;
  std::vector<std::string> enabled_extensions;  // e.g. "VK_KHR_push_descriptor" (used when listed)
};

// The application's OpenCL objects. lowbit takes its own reference on each (clRetain*) and drops it when
// the Context goes; it never releases the application's references. The queue may be in-order or
// out-of-order; without CL_QUEUE_PROFILING_ENABLE, Context::timing() reports 0.
struct OpenClImport {
  cl_context context = nullptr;
  cl_device_id device = nullptr;  // a device of `context`
  cl_command_queue queue = nullptr;  // a queue of `context` on `device`
};

// Usage bits of a VkBuffer, as VkBufferUsageFlagBits (Vulkan cannot query them: the application says).
enum VulkanBufferUsage : uint32_t {
  kVkUsageTransferSrc = 0x1,   // VK_BUFFER_USAGE_TRANSFER_SRC_BIT: download / copy from it
  kVkUsageTransferDst = 0x2,   // VK_BUFFER_USAGE_TRANSFER_DST_BIT: upload / copy into it
  kVkUsageStorage = 0x20,      // VK_BUFFER_USAGE_STORAGE_BUFFER_BIT: required
};

// Where a lowbit Buffer lives in Vulkan terms (Context::vulkan_buffer), for the application's own
// descriptors: the VkBuffer (vk_handle_bits form), the tensor's first byte in it and the bytes it may bind.
struct VulkanBufferRef {
  uint64_t buffer = 0;
  uint64_t offset = 0;
  uint64_t range = 0;
};

// A span of recorded ops in an application's command buffer (Context::record_into). While open, every op
// of the Context only records its dispatches and the barriers between them into the command buffer: nothing
// is submitted or waited for. Destroying it releases the memory the recorded commands use (scratch, pooled
// results, buffers dropped meanwhile), so destroy it only once the command buffer has finished executing
// (or will never be submitted).
class Recording {
 public:
  Recording() = default;
  Recording(Recording&& o) noexcept;
  Recording& operator=(Recording&& o) noexcept;
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;
  ~Recording();
  // Ops run on the Context's own queue again; the command buffer stays the application's to end and submit.
  void end();
  bool open() const { return open_; }

 private:
  friend class Context;
  void release() noexcept;
  std::shared_ptr<detail::Device> dev_;
  uint64_t id_ = 0;
  bool open_ = false;
};

}  // namespace lowbit
