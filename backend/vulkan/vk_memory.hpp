// vk_memory.hpp — device memory: big VkDeviceMemory blocks suballocated with a coalescing free list,
// one VkBuffer per lowbit buffer bound at an offset. A buffer that dies while queued GPU work may
// still use it is retired and freed once the stream reports that work complete. Staging memory is
// counted (bytes alive now, and the peak) so that uploads can bound it.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backend/device.hpp"
#include "backend/memory_budget.hpp"
#include "backend/recycle_bin.hpp"
#include "backend/vulkan/vk_gpu.hpp"

namespace lowbit::detail::vk {

class Allocator;

// Where a buffer lives: device memory for tensors, host-visible memory for staging copies.
enum class MemoryUse { Device, Staging };

struct MemoryBlock {
  MemoryHandle memory;
  VkDeviceSize size = 0;
  uint32_t type = 0;
  uint8_t* mapped = nullptr;                  // whole block mapped when host-visible
  std::map<VkDeviceSize, VkDeviceSize> free;  // offset -> length, coalesced
  VkDeviceSize used = 0;
  bool staging = false;  // belongs to the staging pool
};

// A lowbit buffer on Vulkan: its own VkBuffer over a range of a shared block.
class VulkanBuffer final : public DeviceBuffer {
 public:
  VulkanBuffer(std::shared_ptr<Allocator> owner, BufferHandle buffer, MemoryBlock* block, VkDeviceSize offset,
               VkDeviceSize alloc_size, VkDeviceSize capacity, size_t bytes, bool host_access, bool pooled = false);
  // The application's VkBuffer (Context::wrap_vulkan_buffer): `range` bytes from `offset`, created with
  // `usage` (VkBufferUsageFlags); never freed here.
  VulkanBuffer(VkBuffer app_buffer, VkDeviceSize offset, VkDeviceSize range, size_t bytes, uint32_t usage);
  ~VulkanBuffer() override;

  VkBuffer handle() const { return app_buffer_ ? app_buffer_ : buffer_.get(); }
  // Where the tensor starts in handle(): 0, or the application's offset for a wrapped buffer.
  VkDeviceSize base_offset() const { return app_buffer_ ? offset_ : 0; }
  VkDeviceSize capacity() const { return capacity_; }  // bytes usable from base_offset() (bytes rounded up to 16)
  bool wrapped() const { return app_buffer_ != VK_NULL_HANDLE; }
  uint32_t usage() const { return usage_; }
  // Host pointer when write/read may memcpy directly, else null (staging copies needed).
  uint8_t* host_ptr() const { return host_access_ ? block_->mapped + offset_ : nullptr; }
  uint8_t* mapped_ptr() const { return block_ && block_->mapped ? block_->mapped + offset_ : nullptr; }
  // Serial of the last command batch that uses the buffer (see Stream).
  mutable uint64_t last_use = 0;
  // The last application command-buffer recording (Stream::begin_external) that uses it, 0 for none: while
  // that recording is held, the buffer's memory is not freed or reused (Allocator::hold_recording).
  mutable uint64_t recording = 0;

 private:
  std::shared_ptr<Allocator> owner_;
  BufferHandle buffer_;
  MemoryBlock* block_;
  VkDeviceSize offset_, alloc_size_, capacity_;
  bool host_access_;
  bool pooled_;  // goes back to the allocator's recycle bin when released
  VkBuffer app_buffer_ = VK_NULL_HANDLE;
  uint32_t usage_ = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                    VK_BUFFER_USAGE_TRANSFER_DST_BIT;
};

class Allocator : public std::enable_shared_from_this<Allocator> {
 public:
  // staging_block: size of the staging pool's memory blocks (the staging limit, so that memory held for
  // staging stays near it). memory_limit: most bytes of device-memory buffers alive (0 = none).
  Allocator(std::shared_ptr<Gpu> gpu, VkDeviceSize staging_block, uint64_t memory_limit = 0);
  ~Allocator();

  std::shared_ptr<VulkanBuffer> create(size_t bytes, MemoryUse use);
  // Device memory for an op's result or scratch (Device::alloc_pooled): a released pooled buffer of the
  // same size class whose last use has completed, else a new one. Contents undefined.
  std::shared_ptr<VulkanBuffer> create_pooled(size_t bytes);
  // Called by the stream: every batch with serial <= s has completed; frees retired buffers.
  void set_completed(uint64_t s);
  const Gpu& gpu() const { return *gpu_; }
  // Bytes of staging buffers alive (including retired ones not yet freed), and their peak.
  VkDeviceSize staging_bytes();
  VkDeviceSize staging_peak();
  uint64_t buffers_created();  // VkBuffers created so far
  uint64_t pool_hits();        // create_pooled calls served by a recycled buffer
  // Frees the pooled buffers whose last use has completed (memory is short).
  void release_idle();
  // Device memory of buffers (alive, pooled or retired) counted against the memory limit.
  const MemoryBudget& budget() const { return *budget_; }
  // Buffers used by the commands of recording `id` (VulkanBuffer::recording) keep their memory when
  // released until release_recording(id): the application's command buffer has finished with them.
  void hold_recording(uint64_t id);
  void release_recording(uint64_t id);

 private:
  friend class VulkanBuffer;
  struct Pool {
    uint32_t type = UINT32_MAX;
    bool host_access = false;  // write/read may memcpy through the mapping
    VkDeviceSize block_size = 0;
    std::list<MemoryBlock> blocks;
    VkDeviceSize live = 0, peak = 0;  // bytes of its buffers alive
  };
  struct Retired {
    BufferHandle buffer;
    MemoryBlock* block;
    VkDeviceSize offset, size;
    uint64_t serial;
  };
  // A pooled buffer's parts while it waits in the recycle bin.
  struct Recycled {
    BufferHandle buffer;
    MemoryBlock* block;
    VkDeviceSize offset, size, capacity;
    bool host_access;
  };
  void retire(BufferHandle buffer, MemoryBlock* block, VkDeviceSize offset, VkDeviceSize size, uint64_t serial,
              uint64_t recording);
  void recycle(Recycled r, uint64_t serial, uint64_t recording);
  void retire_locked(Retired r);
  void recycle_locked(Recycled r, uint64_t serial);
  // A new VkBuffer of capacity_bytes (rounded up to 16) reporting `bytes` as its size.
  std::shared_ptr<VulkanBuffer> create_buffer(size_t bytes, size_t capacity_bytes, MemoryUse use, bool pooled);
  void free_range(MemoryBlock* block, VkDeviceSize offset, VkDeviceSize size);
  void release_idle_locked();  // release_idle with mu_ held
  Pool& pool_for(MemoryUse use, uint32_t type_bits);
  MemoryBlock& new_block(Pool& pool, VkDeviceSize min_size);

  std::shared_ptr<Gpu> gpu_;
  std::shared_ptr<MemoryBudget> budget_;
  std::mutex mu_;
  Pool pools_[2];  // MemoryUse::Device, MemoryUse::Staging
  std::vector<Retired> retired_;
  RecycleBin<Recycled, uint64_t> bin_;  // pooled buffers by size class, ticket = serial of their last use
  uint64_t completed_ = 0;
  std::map<uint64_t, std::vector<Retired>> held_retired_;                      // by recording
  std::map<uint64_t, std::vector<std::pair<Recycled, uint64_t>>> held_pooled_;  // by recording: (parts, serial)
  std::vector<uint64_t> open_recordings_;
  uint64_t buffers_created_ = 0, pool_hits_ = 0;
  bool force_staging_ = false;
  VkDeviceSize max_allocation_ = 0;  // maxMemoryAllocationSize
  VkPhysicalDeviceMemoryProperties mem_props_{};
};

}  // namespace lowbit::detail::vk
