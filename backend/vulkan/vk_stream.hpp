// vk_stream.hpp — the command stream: records dispatches / copies / fills into an open command buffer,
// inserts the buffer memory barriers that dependent commands need, binds descriptors (push descriptors
// or pooled sets), brackets every op with timestamp queries, and submits / waits with fences. A wait
// that outlasts the timeout marks the stream lost: that wait and every later call throw DeviceLost.
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "backend/fault_injection.hpp"
#include "backend/vulkan/vk_memory.hpp"
#include "backend/vulkan/vk_pipelines.hpp"

namespace lowbit::detail::vk {

// One storage-buffer binding of a dispatch: a range of a buffer, and whether the shader may write it.
struct BufferUse {
  const VulkanBuffer* buffer = nullptr;
  VkDeviceSize offset = 0;
  VkDeviceSize range = VK_WHOLE_SIZE;
  bool write = false;
};

class Stream {
 public:
  // inject_lost_at: TEST ONLY, the N-th submit or wait fails as VK_ERROR_DEVICE_LOST (0 = never).
  Stream(const Gpu& gpu, Allocator& allocator, uint64_t timeout_ms, uint64_t inject_lost_at = 0);
  ~Stream();  // frees the command buffers: the owner drains the stream first (see drain)
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Commands (recorded, not yet executed).
  void dispatch(const Pipeline& p, std::span<const BufferUse> bindings, const void* push, uint32_t push_size,
                uint32_t groups_x, uint32_t groups_y, uint32_t groups_z = 1);
  void fill(const VulkanBuffer& b, VkDeviceSize offset, VkDeviceSize size, uint32_t value);
  void copy(const VulkanBuffer& src, VkDeviceSize src_off, const VulkanBuffer& dst, VkDeviceSize dst_off,
            VkDeviceSize bytes);
  // Throws InvalidArgument when a wrapped buffer lacks the transfer usage copy() needs (callers that bracket
  // the copy with begin_op check first, so that nothing is left half-recorded).
  static void check_copy(const VulkanBuffer& src, const VulkanBuffer& dst);
  // Host data written into b by the command stream itself (vkCmdUpdateBuffer, at most 65536 bytes): how
  // uploads are recorded into an application's command buffer, where nothing may be staged.
  void update(const VulkanBuffer& b, VkDeviceSize offset, const void* data, VkDeviceSize bytes);
  // Timestamps around one op (its commands between begin_op and end_op).
  void begin_op();
  void end_op();

  // Record mode (Context::record_into): commands go into the application's command buffer `c`, which it
  // has begun; begin_external submits lowbit's queued work first and records one memory barrier (compute /
  // transfer writes of earlier work -> compute / transfer accesses). Nothing is submitted or waited for
  // until end_external(). Buffers and descriptor pools the recorded commands use are held for recording
  // `id` until release_external(id).
  void begin_external(VkCommandBuffer c, uint64_t id);
  void end_external();
  void release_external(uint64_t id);
  bool external() const { return external_ != VK_NULL_HANDLE; }
  // Throws Unsupported naming `what` while recording into an application's command buffer.
  void require_own_queue(const char* what) const;

  void submit();
  // Submits and waits for every batch; throws DeviceLost when they do not finish within the timeout.
  void wait();
  // For destruction: waits at most `ms` for submitted work (never throws, also when lost). True when
  // nothing is left running, so memory the work uses may be freed.
  bool drain(uint64_t ms) noexcept;
  // Whether queued or recorded work may still touch b.
  bool busy(const VulkanBuffer& b) const { return b.last_use > completed_; }
  void reset_timing();
  double device_ms();  // waits
  uint64_t command_buffers() const { return command_buffers_; }  // allocated so far (the ring's size)
  uint64_t full_waits() const { return full_waits_; }            // waits for all submitted work
  const std::string& lost_reason() const { return lost_; }       // empty while the device works

 private:
  // One command buffer of the ring, with what it holds until its fence signals: timestamp query pairs and
  // descriptor pools (when the device has no push descriptors).
  struct Batch {
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    FenceHandle fence;
    uint64_t serial = 0;
    std::vector<uint32_t> query_pairs;  // first query of each begin/end pair
    std::vector<DescriptorPoolHandle> descriptor_pools;
  };
  struct Access {
    bool read = false, write = false;
    VkPipelineStageFlags stages = 0;
  };
  VkCommandBuffer cmd();  // the open command buffer (begun on first use)
  void track(std::span<const BufferUse> uses, VkPipelineStageFlags stage);
  void bind_descriptors(const Pipeline& p, std::span<const BufferUse> bindings);
  void collect_timestamps(const Batch& b);
  // Retires the oldest submitted batch once its fence signalled (waiting for it when `block`): its
  // timestamps are summed, its command buffer, queries and descriptor pools reused. False when not done.
  bool retire_oldest(bool block);
  void retire_finished();  // every batch already done, oldest first, without waiting
  VkResult wait_fence(VkFence f, uint64_t ms);
  void check_wait(VkResult r);
  void throw_if_lost() const;
  VkResult wait_fences(uint64_t ms);
  VkResult injected(VkResult r) { return inject_lost_.fail_now() ? VK_ERROR_DEVICE_LOST : r; }

  const Gpu& gpu_;
  Allocator& allocator_;
  uint64_t timeout_ms_;
  std::string lost_;  // why the device counts as lost; empty while it works
  InjectedDeviceLoss inject_lost_;
  CommandPoolHandle pool_;
  QueryPoolHandle queries_;
  std::vector<uint32_t> free_query_pairs_;
  std::vector<DescriptorPoolHandle> spare_descriptor_pools_;  // reset, for the batch being recorded
  Batch recording_;
  bool recording_open_ = false;
  std::vector<Batch> in_flight_, spare_;
  std::vector<std::pair<VkBuffer, Access>> hazards_;  // accesses since the last barrier that covered them
  VkCommandBuffer external_ = VK_NULL_HANDLE;         // the application's, in record mode
  uint64_t external_id_ = 0;
  bool recorded_external_ = false;  // a recording ended since the last batch began: that batch starts with a barrier
  std::vector<DescriptorPoolHandle> external_pools_;  // descriptor pools of the open recording
  std::vector<std::pair<uint64_t, std::vector<DescriptorPoolHandle>>> held_pools_;  // of ended recordings
  uint64_t serial_ = 1;                               // serial of the batch being recorded
  uint64_t completed_ = 0;
  double total_ms_ = 0;
  uint64_t command_buffers_ = 0, full_waits_ = 0;
  bool host_timing_ = false;  // no timestamp support: wall time of waits
  bool op_open_ = false;      // begin_op wrote a timestamp whose end_op has not followed yet
  std::chrono::steady_clock::time_point first_submit_{};
};

}  // namespace lowbit::detail::vk
