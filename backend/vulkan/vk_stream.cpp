// vk_stream.cpp — command recording, hazard tracking + barriers, descriptors, timestamps, submit/wait.
#include "backend/vulkan/vk_stream.hpp"

#include <algorithm>
#include <cstring>

#include "host/log.hpp"

namespace lowbit::detail::vk {

namespace {

constexpr uint32_t kQueryCapacity = 512;  // 256 timed ops in flight; past that the oldest batch is waited for
constexpr size_t kMaxInFlight = 16;        // submitted batches (command buffers) the ring holds
constexpr uint32_t kSetsPerPool = 256;
constexpr VkPipelineStageFlags kWorkStages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kWrites = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
constexpr VkAccessFlags kAll = kWrites | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT;

VkAccessFlags write_access(VkPipelineStageFlags stages) {
  VkAccessFlags a = 0;
  if (stages & VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT) a |= VK_ACCESS_SHADER_WRITE_BIT;
  if (stages & VK_PIPELINE_STAGE_TRANSFER_BIT) a |= VK_ACCESS_TRANSFER_WRITE_BIT;
  return a;
}

VkAccessFlags access_of(VkPipelineStageFlags stage, bool read, bool write) {
  bool compute = stage == VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT;
  VkAccessFlags a = 0;
  if (read) a |= compute ? VK_ACCESS_SHADER_READ_BIT : VK_ACCESS_TRANSFER_READ_BIT;
  if (write) a |= compute ? VK_ACCESS_SHADER_WRITE_BIT : VK_ACCESS_TRANSFER_WRITE_BIT;
  return a;
}

}  // namespace

Stream::Stream(const Gpu& gpu, Allocator& allocator, uint64_t timeout_ms, uint64_t inject_lost_at)
    : gpu_(gpu), allocator_(allocator), timeout_ms_(timeout_ms), inject_lost_(inject_lost_at) {
  VkDevice dev = gpu_.device();
  VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pi.queueFamilyIndex = gpu_.queue_family();
  VkCommandPool pool = VK_NULL_HANDLE;
  check(vkCreateCommandPool(dev, &pi, nullptr, &pool), "vkCreateCommandPool");
  pool_ = CommandPoolHandle(dev, pool);

  host_timing_ = gpu_.timestamp_valid_bits() == 0;
  if (!host_timing_) {
    VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qi.queryCount = kQueryCapacity;
    VkQueryPool q = VK_NULL_HANDLE;
    check(vkCreateQueryPool(dev, &qi, nullptr, &q), "vkCreateQueryPool");
    queries_ = QueryPoolHandle(dev, q);
    for (uint32_t i = kQueryCapacity; i >= 2; i -= 2) free_query_pairs_.push_back(i - 2);
  } else {
    log().warn("vulkan: the compute queue has no timestamps; device time is measured on the host");
  }
}

Stream::~Stream() {
  if (!drain(timeout_ms_)) log().error("vulkan: freeing command buffers the device may still run");
  auto free_cmd = [&](Batch& b) {
    if (b.cmd) vkFreeCommandBuffers(gpu_.device(), pool_, 1, &b.cmd);
  };
  free_cmd(recording_);  // only set while a batch is being recorded
  for (auto& b : spare_) free_cmd(b);
  for (auto& b : in_flight_) free_cmd(b);
}

VkCommandBuffer Stream::cmd() {
  if (external_) return external_;
  if (recording_open_) return recording_.cmd;
  throw_if_lost();
  if (!spare_.empty()) {
    recording_ = std::move(spare_.back());
    spare_.pop_back();
  } else {
    recording_ = Batch{};
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    check(vkAllocateCommandBuffers(gpu_.device(), &ai, &recording_.cmd), "vkAllocateCommandBuffers");
    ++command_buffers_;
    VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence f = VK_NULL_HANDLE;
    check(vkCreateFence(gpu_.device(), &fi, nullptr, &f), "vkCreateFence");
    recording_.fence = FenceHandle(gpu_.device(), f);
  }
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  check(vkBeginCommandBuffer(recording_.cmd, &bi), "vkBeginCommandBuffer");
  recording_.serial = serial_;
  recording_open_ = true;
  // Work of earlier batches (and host writes before this submit) must be visible to this one: one global
  // barrier here replaces per-buffer tracking across command buffers.
  if (serial_ > 1 || recorded_external_) {  // (recordings in the application's command buffers count too)
    recorded_external_ = false;
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = kWrites;
    mb.dstAccessMask = kAll;
    vkCmdPipelineBarrier(recording_.cmd, kWorkStages, kWorkStages, 0, 1, &mb, 0, nullptr, 0, nullptr);
  }
  hazards_.clear();
  return recording_.cmd;
}

// Emits the barriers the new command's accesses need against earlier commands of this batch, then
// records those accesses.
void Stream::track(std::span<const BufferUse> uses, VkPipelineStageFlags stage) {
  struct Use {
    VkBuffer buf;
    bool read, write;
  };
  std::vector<Use> merged;
  for (const auto& u : uses) {
    u.buffer->last_use = serial_;
    if (external_) u.buffer->recording = external_id_;
    auto it = std::find_if(merged.begin(), merged.end(), [&](const Use& m) { return m.buf == u.buffer->handle(); });
    if (it == merged.end()) {
      merged.push_back({u.buffer->handle(), !u.write || stage == VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, u.write});
    } else {
      it->read = true;
      it->write |= u.write;
    }
  }
  std::vector<VkBufferMemoryBarrier> barriers;
  VkPipelineStageFlags src = 0;
  for (const Use& u : merged) {
    auto h = std::find_if(hazards_.begin(), hazards_.end(), [&](const auto& e) { return e.first == u.buf; });
    if (h == hazards_.end()) continue;
    if (!(h->second.write || (h->second.read && u.write))) continue;
    VkBufferMemoryBarrier b{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
    b.srcAccessMask = h->second.write ? write_access(h->second.stages) : 0;
    b.dstAccessMask = access_of(stage, u.read, u.write);
    b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    b.buffer = u.buf;
    b.offset = 0;
    b.size = VK_WHOLE_SIZE;
    barriers.push_back(b);
    src |= h->second.stages;
    hazards_.erase(h);
  }
  if (!barriers.empty())
    vkCmdPipelineBarrier(cmd(), src, stage, 0, 0, nullptr, uint32_t(barriers.size()), barriers.data(), 0, nullptr);
  for (const Use& u : merged) {
    auto h = std::find_if(hazards_.begin(), hazards_.end(), [&](const auto& e) { return e.first == u.buf; });
    if (h == hazards_.end()) h = hazards_.insert(hazards_.end(), {u.buf, Access{}});
    h->second.read |= u.read;
    h->second.write |= u.write;
    h->second.stages |= stage;
  }
}

void Stream::bind_descriptors(const Pipeline& p, std::span<const BufferUse> bindings) {
  std::vector<VkDescriptorBufferInfo> infos(bindings.size());
  std::vector<VkWriteDescriptorSet> writes(bindings.size());
  for (size_t i = 0; i < bindings.size(); ++i) {
    const VulkanBuffer& b = *bindings[i].buffer;
    VkDeviceSize range = bindings[i].range;
    // A wrapped buffer ends where the application's range does, not at the end of its VkBuffer.
    if (b.wrapped() && range == VK_WHOLE_SIZE) range = b.capacity() - bindings[i].offset;
    infos[i] = {b.handle(), b.base_offset() + bindings[i].offset, range};
    writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    writes[i].dstBinding = uint32_t(i);
    writes[i].descriptorCount = 1;
    writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    writes[i].pBufferInfo = &infos[i];
  }
  if (auto push = gpu_.push_descriptor_fn()) {
    push(cmd(), VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, uint32_t(writes.size()), writes.data());
    return;
  }
  // Pooled sets, owned by the batch and reset when it retires: try its newest pool, add one when it is full.
  VkDescriptorSet set = VK_NULL_HANDLE;
  auto& pools = external_ ? external_pools_ : recording_.descriptor_pools;
  for (bool fresh = pools.empty();; fresh = true) {
    if (fresh && !spare_descriptor_pools_.empty()) {
      pools.push_back(std::move(spare_descriptor_pools_.back()));
      spare_descriptor_pools_.pop_back();
    } else if (fresh) {
      VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * 8};
      VkDescriptorPoolCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
      ci.maxSets = kSetsPerPool;
      ci.poolSizeCount = 1;
      ci.pPoolSizes = &size;
      VkDescriptorPool dp = VK_NULL_HANDLE;
      check(vkCreateDescriptorPool(gpu_.device(), &ci, nullptr, &dp), "vkCreateDescriptorPool");
      pools.emplace_back(gpu_.device(), dp);
    }
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pools.back();
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &p.set_layout;
    VkResult r = vkAllocateDescriptorSets(gpu_.device(), &ai, &set);
    if (r == VK_SUCCESS) break;
    if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) check(r, "vkAllocateDescriptorSets");
  }
  for (auto& w : writes) w.dstSet = set;
  vkUpdateDescriptorSets(gpu_.device(), uint32_t(writes.size()), writes.data(), 0, nullptr);
  vkCmdBindDescriptorSets(cmd(), VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
}

void Stream::dispatch(const Pipeline& p, std::span<const BufferUse> bindings, const void* push,
                      uint32_t push_size, uint32_t groups_x, uint32_t groups_y, uint32_t groups_z) {
  if (bindings.size() != p.bindings)
    throw Error(ErrorCode::Internal, "vulkan: dispatch with " + std::to_string(bindings.size()) +
                                         " bindings, pipeline has " + std::to_string(p.bindings));
  for (size_t i = 0; i < bindings.size(); ++i)
    if (bindings[i].write && i < p.readonly.size() && p.readonly[i])
      throw Error(ErrorCode::Internal, "vulkan: " + p.shader + " dispatch marks binding " + std::to_string(i) +
                                           " as written, but the shader declares it read-only");
  VkCommandBuffer c = cmd();
  track(bindings, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT);
  vkCmdBindPipeline(c, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
  bind_descriptors(p, bindings);
  if (push_size) vkCmdPushConstants(c, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
  vkCmdDispatch(c, groups_x, groups_y, groups_z);
}

namespace {

// A wrapped buffer created without the transfer usage a command needs: an error naming it, before recording.
void require_usage(const VulkanBuffer& b, VkBufferUsageFlags bit, const char* what) {
  if (b.usage() & bit) return;
  throw Error(ErrorCode::InvalidArgument,
              std::string("vulkan: the application's VkBuffer was wrapped without ") +
                  (bit == VK_BUFFER_USAGE_TRANSFER_DST_BIT ? "VK_BUFFER_USAGE_TRANSFER_DST_BIT" : "VK_BUFFER_USAGE_TRANSFER_SRC_BIT") +
                  ", which " + what + " needs");
}

}  // namespace

void Stream::fill(const VulkanBuffer& b, VkDeviceSize offset, VkDeviceSize size, uint32_t value) {
  require_usage(b, VK_BUFFER_USAGE_TRANSFER_DST_BIT, "a fill (vkCmdFillBuffer)");
  VkCommandBuffer c = cmd();
  BufferUse u{&b, offset, size, true};
  track({&u, 1}, VK_PIPELINE_STAGE_TRANSFER_BIT);
  vkCmdFillBuffer(c, b.handle(), b.base_offset() + offset, size, value);
}

void Stream::check_copy(const VulkanBuffer& src, const VulkanBuffer& dst) {
  require_usage(src, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, "a copy from it (download, Context::copy)");
  require_usage(dst, VK_BUFFER_USAGE_TRANSFER_DST_BIT, "a copy into it (upload, Context::copy)");
}

void Stream::copy(const VulkanBuffer& src, VkDeviceSize src_off, const VulkanBuffer& dst, VkDeviceSize dst_off,
                  VkDeviceSize bytes) {
  check_copy(src, dst);
  VkCommandBuffer c = cmd();
  BufferUse u[2] = {{&src, src_off, bytes, false}, {&dst, dst_off, bytes, true}};
  track(u, VK_PIPELINE_STAGE_TRANSFER_BIT);
  VkBufferCopy region{src.base_offset() + src_off, dst.base_offset() + dst_off, bytes};
  vkCmdCopyBuffer(c, src.handle(), dst.handle(), 1, &region);
}

void Stream::update(const VulkanBuffer& b, VkDeviceSize offset, const void* data, VkDeviceSize bytes) {
  require_usage(b, VK_BUFFER_USAGE_TRANSFER_DST_BIT, "an upload while recording (vkCmdUpdateBuffer)");
  if (offset % 4 || bytes > 65536)
    throw Error(ErrorCode::Unsupported, "vulkan: an upload of " + std::to_string(bytes) + " bytes at offset " +
                                            std::to_string(offset) + " cannot be recorded into a command buffer "
                                            "(vkCmdUpdateBuffer takes at most 65536 bytes at a 4-byte offset); "
                                            "upload before Context::record_into");
  // Whole words: the buffer's capacity is rounded up to 16 bytes, so the padding bytes are its own.
  std::vector<uint8_t> words((bytes + 3) / 4 * 4, 0);
  std::memcpy(words.data(), data, bytes);
  if (offset + words.size() > b.capacity())
    throw Error(ErrorCode::Internal, "vulkan: update past the end of a buffer");
  VkCommandBuffer c = cmd();
  BufferUse u{&b, offset, words.size(), true};
  track({&u, 1}, VK_PIPELINE_STAGE_TRANSFER_BIT);
  vkCmdUpdateBuffer(c, b.handle(), b.base_offset() + offset, words.size(), words.data());
}

void Stream::require_own_queue(const char* what) const {
  if (external_)
    throw Error(ErrorCode::Unsupported,
                std::string(what) + " is not available while lowbit records into the application's command buffer "
                                    "(it would submit or wait for work); end the Recording first");
}

void Stream::begin_external(VkCommandBuffer c, uint64_t id) {
  throw_if_lost();
  if (external_)
    throw Error(ErrorCode::InvalidArgument,
                "record_into: this context is already recording into another command buffer; end that Recording first");
  auto own = [&](const Batch& b) { return b.cmd == c; };
  if (own(recording_) || std::any_of(spare_.begin(), spare_.end(), own) ||
      std::any_of(in_flight_.begin(), in_flight_.end(), own))
    throw Error(ErrorCode::InvalidArgument, "record_into: the command buffer is one of lowbit's own");
  submit();  // lowbit's queued work (uploads) goes first in the queue
  external_ = c;
  external_id_ = id;
  hazards_.clear();
  // lowbit's earlier work (its own submissions, earlier recordings) is visible to the recorded ops.
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = kWrites;
  mb.dstAccessMask = kAll;
  vkCmdPipelineBarrier(c, kWorkStages, kWorkStages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void Stream::end_external() {
  if (!external_) return;
  held_pools_.emplace_back(external_id_, std::move(external_pools_));
  recorded_external_ = true;
  external_pools_.clear();
  external_ = VK_NULL_HANDLE;
  external_id_ = 0;
  hazards_.clear();
}

void Stream::release_external(uint64_t id) {
  for (auto it = held_pools_.begin(); it != held_pools_.end(); ++it) {
    if (it->first != id) continue;
    for (auto& p : it->second) {
      check(vkResetDescriptorPool(gpu_.device(), p, 0), "vkResetDescriptorPool");
      spare_descriptor_pools_.push_back(std::move(p));
    }
    held_pools_.erase(it);
    return;
  }
}

void Stream::begin_op() {
  if (host_timing_ || external_) return;  // no timestamps in the application's command buffer
  if (op_open_) end_op();  // the previous op threw before its end_op: close its pair all the same
  // Every query pair is held by unfinished batches: submit what is recorded, retire the oldest batch.
  while (free_query_pairs_.empty()) {
    if (in_flight_.empty()) submit();
    retire_oldest(true);
    allocator_.set_completed(completed_);
  }
  uint32_t q = free_query_pairs_.back();
  free_query_pairs_.pop_back();
  VkCommandBuffer c = cmd();
  recording_.query_pairs.push_back(q);
  vkCmdResetQueryPool(c, queries_, q, 2);
  // Bottom of pipe: written once everything recorded earlier has finished, so ops never overlap in time.
  vkCmdWriteTimestamp(c, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, q);
  op_open_ = true;
}

void Stream::end_op() {
  if (host_timing_ || external_ || !op_open_) return;
  op_open_ = false;
  vkCmdWriteTimestamp(cmd(), VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, recording_.query_pairs.back() + 1);
}

void Stream::submit() {
  require_own_queue("submitting work");
  if (!recording_open_) return;
  end_op();  // an op that threw half-way still has both timestamps
  VkCommandBuffer c = recording_.cmd;
  // Make the batch's writes visible to host reads after the fence.
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = kWrites;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(c, kWorkStages, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  check(vkEndCommandBuffer(c), "vkEndCommandBuffer");
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &c;
  if (host_timing_ && in_flight_.empty()) first_submit_ = std::chrono::steady_clock::now();
  gpu_.lock_queue();  // the application's threads may use the queue too (Context::import_vulkan)
  VkResult r = inject_lost_.fail_now() ? VK_ERROR_DEVICE_LOST : vkQueueSubmit(gpu_.queue(), 1, &si, recording_.fence);
  gpu_.unlock_queue();
  recording_open_ = false;
  Batch done = std::exchange(recording_, Batch{});  // recording_ no longer names the command buffer
  if (r == VK_ERROR_DEVICE_LOST) lost_ = std::string("vkQueueSubmit: VK_ERROR_DEVICE_LOST") + inject_lost_.note();
  if (r != VK_SUCCESS) {
    vkResetCommandBuffer(c, 0);
    for (auto& p : done.descriptor_pools) check(vkResetDescriptorPool(gpu_.device(), p, 0), "vkResetDescriptorPool");
    for (auto& p : done.descriptor_pools) spare_descriptor_pools_.push_back(std::move(p));
    done.descriptor_pools.clear();
    free_query_pairs_.insert(free_query_pairs_.end(), done.query_pairs.begin(), done.query_pairs.end());
    done.query_pairs.clear();
    spare_.push_back(std::move(done));
    throw_if_lost();
    check(r, "vkQueueSubmit");
  }
  in_flight_.push_back(std::move(done));
  ++serial_;
  // A ring: batches the device finished go back to be recorded again; past kMaxInFlight the oldest is waited
  // for (bounding the work and memory held by unwaited batches), never all of them.
  retire_finished();
  while (in_flight_.size() > kMaxInFlight) retire_oldest(true);
  allocator_.set_completed(completed_);
}

VkResult Stream::wait_fence(VkFence f, uint64_t ms) {
  uint64_t ns = ms > UINT64_MAX / 1000000 ? UINT64_MAX : ms * 1000000;
  return vkWaitForFences(gpu_.device(), 1, &f, VK_TRUE, ns);
}

// Marks the stream lost on a timeout or a lost device (and throws); throws on any other failure.
void Stream::check_wait(VkResult r) {
  if (r == VK_TIMEOUT) {
    lost_ = "queued work did not finish within " + std::to_string(timeout_ms_) +
            " ms (the limit set by ContextOptions::timeout_ms / LOWBIT_VK_TIMEOUT_MS)";
    throw_if_lost();
  }
  if (r == VK_ERROR_DEVICE_LOST) {
    lost_ = std::string("vkWaitForFences: VK_ERROR_DEVICE_LOST") + inject_lost_.note();
    throw_if_lost();
  }
  check(r, "vkWaitForFences");
}

bool Stream::retire_oldest(bool block) {
  if (in_flight_.empty()) return false;
  Batch& b = in_flight_.front();
  if (block) {
    check_wait(injected(wait_fence(b.fence, timeout_ms_)));
  } else if (vkGetFenceStatus(gpu_.device(), b.fence) != VK_SUCCESS) {
    return false;
  }
  collect_timestamps(b);
  check(vkResetCommandBuffer(b.cmd, 0), "vkResetCommandBuffer");
  VkFence f = b.fence;
  check(vkResetFences(gpu_.device(), 1, &f), "vkResetFences");
  free_query_pairs_.insert(free_query_pairs_.end(), b.query_pairs.begin(), b.query_pairs.end());
  b.query_pairs.clear();
  for (auto& p : b.descriptor_pools) {
    check(vkResetDescriptorPool(gpu_.device(), p, 0), "vkResetDescriptorPool");
    spare_descriptor_pools_.push_back(std::move(p));
  }
  b.descriptor_pools.clear();
  completed_ = b.serial;
  spare_.push_back(std::move(b));
  in_flight_.erase(in_flight_.begin());
  if (host_timing_ && in_flight_.empty())  // device time on the host: from the first submit to idle
    total_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - first_submit_).count();
  return true;
}

void Stream::retire_finished() {
  while (retire_oldest(false)) {
  }
}

void Stream::throw_if_lost() const {
  if (!lost_.empty())
    throw Error(ErrorCode::DeviceLost, "vulkan: device '" + gpu_.info().name + "' is lost: " + lost_);
}

VkResult Stream::wait_fences(uint64_t ms) {
  std::vector<VkFence> fences;
  for (auto& b : in_flight_) fences.push_back(b.fence);
  uint64_t ns = ms > UINT64_MAX / 1000000 ? UINT64_MAX : ms * 1000000;
  return vkWaitForFences(gpu_.device(), uint32_t(fences.size()), fences.data(), VK_TRUE, ns);
}

void Stream::wait() {
  throw_if_lost();
  submit();
  if (in_flight_.empty()) return;
  ++full_waits_;
  check_wait(injected(wait_fences(timeout_ms_)));
  while (!in_flight_.empty()) retire_oldest(true);  // all signalled: no waiting left
  completed_ = serial_ - 1;
  allocator_.set_completed(completed_);
}

bool Stream::drain(uint64_t ms) noexcept {
  if (in_flight_.empty()) return true;
  VkResult r = wait_fences(ms);
  if (r == VK_TIMEOUT) return false;
  // Done, or the device is lost (its work will not run any more): either way nothing uses the memory.
  if (r != VK_SUCCESS) log().error("vulkan: waiting for queued work at destruction: {}", result_name(r));
  for (auto& b : in_flight_) spare_.push_back(std::move(b));
  in_flight_.clear();
  completed_ = serial_ - 1;
  allocator_.set_completed(completed_);
  return true;
}

void Stream::collect_timestamps(const Batch& b) {
  if (host_timing_) return;
  uint32_t bits = gpu_.timestamp_valid_bits();
  uint64_t mask = bits >= 64 ? ~uint64_t(0) : ((uint64_t(1) << bits) - 1);
  double ns_per_tick = gpu_.limits().timestampPeriod;
  for (uint32_t q : b.query_pairs) {
    uint64_t t[2] = {0, 0};
    check(vkGetQueryPoolResults(gpu_.device(), queries_, q, 2, sizeof t, t, sizeof(uint64_t),
                                VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
          "vkGetQueryPoolResults");
    total_ms_ += double((t[1] - t[0]) & mask) * ns_per_tick * 1e-6;
  }
}

void Stream::reset_timing() {
  wait();
  total_ms_ = 0;
}

double Stream::device_ms() {
  wait();
  return total_ms_;
}

}  // namespace lowbit::detail::vk
