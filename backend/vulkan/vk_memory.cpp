// vk_memory.cpp — block suballocation (first fit, aligned, coalescing frees) and memory type choice.
#include "backend/vulkan/vk_memory.hpp"

#include <algorithm>
#include <cstdlib>

#include "host/log.hpp"

namespace lowbit::detail::vk {

namespace {

constexpr VkDeviceSize kBlockSize = VkDeviceSize(256) << 20;  // default block
constexpr VkDeviceSize kMinBlock = VkDeviceSize(1) << 20;
constexpr uint64_t kPoolBytes = uint64_t(256) << 20;  // most bytes of released pooled buffers kept for reuse

VkDeviceSize align_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

}  // namespace

// ---- VulkanBuffer ----------------------------------------------------------------------------------

VulkanBuffer::VulkanBuffer(std::shared_ptr<Allocator> owner, BufferHandle buffer, MemoryBlock* block,
                           VkDeviceSize offset, VkDeviceSize alloc_size, VkDeviceSize capacity, size_t bytes,
                           bool host_access, bool pooled)
    : owner_(std::move(owner)),
      buffer_(std::move(buffer)),
      block_(block),
      offset_(offset),
      alloc_size_(alloc_size),
      capacity_(capacity),
      host_access_(host_access),
      pooled_(pooled) {
  size = bytes;
}

VulkanBuffer::VulkanBuffer(VkBuffer app_buffer, VkDeviceSize offset, VkDeviceSize range, size_t bytes,
                           uint32_t usage)
    : block_(nullptr),
      offset_(offset),
      alloc_size_(0),
      capacity_(range),
      host_access_(false),
      pooled_(false),
      app_buffer_(app_buffer),
      usage_(usage) {
  size = bytes;
}

VulkanBuffer::~VulkanBuffer() {
  if (app_buffer_) return;  // the application's
  if (pooled_)
    owner_->recycle({std::move(buffer_), block_, offset_, alloc_size_, capacity_, host_access_}, last_use, recording);
  else
    owner_->retire(std::move(buffer_), block_, offset_, alloc_size_, last_use, recording);
}

// ---- Allocator ---------------------------------------------------------------------------------------

Allocator::Allocator(std::shared_ptr<Gpu> gpu, VkDeviceSize staging_block, uint64_t memory_limit)
    : gpu_(std::move(gpu)),
      budget_(std::make_shared<MemoryBudget>("vulkan device '" + gpu_->info().name + "'", memory_limit)),
      bin_(kPoolBytes) {
  pools_[0].block_size = kBlockSize;
  pools_[1].block_size = std::min(kBlockSize, align_up(staging_block, kMinBlock));
  vkGetPhysicalDeviceMemoryProperties(gpu_->physical(), &mem_props_);
  VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  p2.pNext = &m3;
  vkGetPhysicalDeviceProperties2(gpu_->physical(), &p2);
  max_allocation_ = m3.maxMemoryAllocationSize;
  const char* fs = std::getenv("LOWBIT_VK_FORCE_STAGING");
  force_staging_ = fs && *fs && std::string(fs) != "0";
}

Allocator::~Allocator() {
  // Buffers hold a reference to the allocator, so none is alive here; only retired and pooled ones remain.
  held_retired_.clear();
  held_pooled_.clear();
  retired_.clear();
  bin_.take_all();
}

std::shared_ptr<VulkanBuffer> Allocator::create_pooled(size_t bytes) {
  const uint64_t size_class = pool_size_class(bytes);
  if (size_class > gpu_->max_binding_range()) return create(bytes, MemoryUse::Device);  // keep it bindable whole
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto r = bin_.take(size_class, [&](uint64_t serial) { return serial <= completed_; })) {
      ++pool_hits_;
      return std::make_shared<VulkanBuffer>(shared_from_this(), std::move(r->buffer), r->block, r->offset, r->size,
                                            r->capacity, bytes, r->host_access, true);
    }
  }
  return create_buffer(bytes, size_class, MemoryUse::Device, true);
}

void Allocator::recycle(Recycled r, uint64_t serial, uint64_t recording) {
  std::lock_guard<std::mutex> lock(mu_);
  if (recording && std::find(open_recordings_.begin(), open_recordings_.end(), recording) != open_recordings_.end()) {
    held_pooled_[recording].emplace_back(std::move(r), serial);
    return;
  }
  recycle_locked(std::move(r), serial);
}

void Allocator::recycle_locked(Recycled r, uint64_t serial) {
  const uint64_t size_class = r.capacity;  // a pooled buffer's capacity is its size class
  for (auto& e : bin_.give(std::move(r), size_class, serial)) {  // over the bound: freed
    Recycled& x = e.item;
    if (e.ticket <= completed_) {
      x.buffer.reset();
      free_range(x.block, x.offset, x.size);
    } else {
      retired_.push_back({std::move(x.buffer), x.block, x.offset, x.size, e.ticket});
    }
  }
}

Allocator::Pool& Allocator::pool_for(MemoryUse use, uint32_t type_bits) {
  Pool& pool = pools_[use == MemoryUse::Device ? 0 : 1];
  if (pool.type != UINT32_MAX) return pool;
  constexpr VkMemoryPropertyFlags kHost = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  auto flags = [&](uint32_t i) { return mem_props_.memoryTypes[i].propertyFlags; };
  auto pick = [&](auto score) {
    int best = -1, best_score = 0;
    for (uint32_t i = 0; i < mem_props_.memoryTypeCount; ++i) {
      if (!(type_bits & (1u << i))) continue;
      int s = score(flags(i));
      if (s > best_score) best = int(i), best_score = s;
    }
    return best;
  };
  int type;
  if (use == MemoryUse::Device) {
    // Device-local first; among those, not host-visible (real VRAM) beats host-visible.
    type = pick([&](VkMemoryPropertyFlags f) {
      int s = 1;
      if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) s += 4;
      if (!(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) s += 2;
      return s;
    });
  } else {
    type = pick([&](VkMemoryPropertyFlags f) {
      if ((f & kHost) != kHost) return 0;
      return (f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 2 : 1;
    });
  }
  if (type < 0) throw Error(ErrorCode::Unsupported, "vulkan: no suitable memory type for storage buffers");
  pool.type = uint32_t(type);
  pool.host_access = (flags(pool.type) & kHost) == kHost && (use == MemoryUse::Staging || !force_staging_);
  log().debug("vulkan: {} memory uses type {} (flags 0x{:x}){}", use == MemoryUse::Device ? "device" : "staging",
              type, flags(pool.type), pool.host_access ? ", mapped" : "");
  return pool;
}

MemoryBlock& Allocator::new_block(Pool& pool, VkDeviceSize min_size) {
  VkDeviceSize size = min_size > pool.block_size ? align_up(min_size, kMinBlock) : pool.block_size;
  VkDeviceSize heap = mem_props_.memoryHeaps[mem_props_.memoryTypes[pool.type].heapIndex].size;
  if (size > heap / 2 && min_size <= heap / 2) size = align_up(min_size, kMinBlock);
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = size;
  ai.memoryTypeIndex = pool.type;
  VkDeviceMemory mem = VK_NULL_HANDLE;
  VkResult r = vkAllocateMemory(gpu_->device(), &ai, nullptr, &mem);
  if ((r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) && size > align_up(min_size, kMinBlock)) {
    ai.allocationSize = size = align_up(min_size, kMinBlock);  // no room for a whole block: exact size
    r = vkAllocateMemory(gpu_->device(), &ai, nullptr, &mem);
  }
  if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
    throw budget_->out_of_memory(size, std::string("vkAllocateMemory of a block: ") + result_name(r));
  check(r, "vkAllocateMemory");
  MemoryBlock& b = pool.blocks.emplace_back();
  b.memory = MemoryHandle(gpu_->device(), mem);
  b.size = size;
  b.type = pool.type;
  b.staging = &pool == &pools_[1];
  b.free[0] = size;
  if (mem_props_.memoryTypes[pool.type].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
    void* p = nullptr;
    check(vkMapMemory(gpu_->device(), mem, 0, VK_WHOLE_SIZE, 0, &p), "vkMapMemory");
    b.mapped = static_cast<uint8_t*>(p);
  }
  return b;
}

std::shared_ptr<VulkanBuffer> Allocator::create(size_t bytes, MemoryUse use) {
  return create_buffer(bytes, bytes, use, false);
}

std::shared_ptr<VulkanBuffer> Allocator::create_buffer(size_t bytes, size_t capacity_bytes, MemoryUse use, bool pooled) {
  VkDeviceSize capacity = align_up(capacity_bytes ? capacity_bytes : 16, 16);
  if (max_allocation_ && capacity > max_allocation_)
    throw Error(ErrorCode::OutOfMemory, "vulkan: a buffer of " + std::to_string(bytes) +
                                            " bytes exceeds the device's largest allocation (" +
                                            std::to_string(max_allocation_) + " bytes)");
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = capacity;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VkBuffer raw = VK_NULL_HANDLE;
  check(vkCreateBuffer(gpu_->device(), &bi, nullptr, &raw), "vkCreateBuffer");
  BufferHandle buffer(gpu_->device(), raw);
  std::lock_guard<std::mutex> lock(mu_);
  ++buffers_created_;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(gpu_->device(), raw, &req);
  Pool& pool = pool_for(use, req.memoryTypeBits);
  if (!(req.memoryTypeBits & (1u << pool.type)))
    throw Error(ErrorCode::Internal, "vulkan: buffer memory type bits changed between buffers");
  auto carve = [&](MemoryBlock& b, VkDeviceSize& out) {
    for (auto it = b.free.begin(); it != b.free.end(); ++it) {
      VkDeviceSize start = align_up(it->first, req.alignment), end = it->first + it->second;
      if (start + req.size > end) continue;
      VkDeviceSize off = it->first;
      b.free.erase(it);
      if (start > off) b.free[off] = start - off;
      if (start + req.size < end) b.free[start + req.size] = end - (start + req.size);
      b.used += req.size;
      out = start;
      return true;
    }
    return false;
  };
  // Device memory counts against the limit (staging has its own); idle pooled buffers go first when short.
  const bool counted = &pool == &pools_[0];
  if (counted && !budget_->try_take(req.size)) {
    release_idle_locked();
    if (!budget_->try_take(req.size)) throw budget_->over_limit(req.size);
  }
  MemoryBlock* block = nullptr;
  VkDeviceSize offset = 0;
  for (auto& b : pool.blocks)
    if (carve(b, offset)) {
      block = &b;
      break;
    }
  if (!block) {
    try {
      block = &new_block(pool, req.size);
    } catch (...) {
      if (counted) budget_->give(req.size);
      throw;
    }
    if (!carve(*block, offset)) throw Error(ErrorCode::Internal, "vulkan: a fresh memory block is too small");
  }
  VkResult r = vkBindBufferMemory(gpu_->device(), raw, block->memory, offset);
  if (r != VK_SUCCESS) {
    free_range(block, offset, req.size);
    check(r, "vkBindBufferMemory");
  }
  pool.live += req.size;
  pool.peak = std::max(pool.peak, pool.live);
  return std::make_shared<VulkanBuffer>(shared_from_this(), std::move(buffer), block, offset, req.size, capacity,
                                        bytes, pool.host_access, pooled);
}

void Allocator::retire(BufferHandle buffer, MemoryBlock* block, VkDeviceSize offset, VkDeviceSize size,
                       uint64_t serial, uint64_t recording) {
  std::lock_guard<std::mutex> lock(mu_);
  Retired r{std::move(buffer), block, offset, size, serial};
  if (recording && std::find(open_recordings_.begin(), open_recordings_.end(), recording) != open_recordings_.end())
    held_retired_[recording].push_back(std::move(r));
  else
    retire_locked(std::move(r));
}

void Allocator::retire_locked(Retired r) {
  if (r.serial <= completed_) {
    r.buffer.reset();
    free_range(r.block, r.offset, r.size);
  } else {
    retired_.push_back(std::move(r));
  }
}

void Allocator::hold_recording(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  open_recordings_.push_back(id);
}

void Allocator::release_recording(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  std::erase(open_recordings_, id);
  if (auto it = held_retired_.find(id); it != held_retired_.end()) {
    for (auto& r : it->second) retire_locked(std::move(r));
    held_retired_.erase(it);
  }
  if (auto it = held_pooled_.find(id); it != held_pooled_.end()) {
    for (auto& [r, serial] : it->second) recycle_locked(std::move(r), serial);
    held_pooled_.erase(it);
  }
}

VkDeviceSize Allocator::staging_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return pools_[1].live;
}

VkDeviceSize Allocator::staging_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  return pools_[1].peak;
}

uint64_t Allocator::buffers_created() {
  std::lock_guard<std::mutex> lock(mu_);
  return buffers_created_;
}

void Allocator::release_idle() {
  std::lock_guard<std::mutex> lock(mu_);
  release_idle_locked();
}

void Allocator::release_idle_locked() {
  for (auto& e : bin_.take_idle([&](uint64_t serial) { return serial <= completed_; })) {
    e.item.buffer.reset();
    free_range(e.item.block, e.item.offset, e.item.size);
  }
}

uint64_t Allocator::pool_hits() {
  std::lock_guard<std::mutex> lock(mu_);
  return pool_hits_;
}

void Allocator::set_completed(uint64_t s) {
  std::lock_guard<std::mutex> lock(mu_);
  completed_ = s;
  std::vector<Retired> keep;
  for (auto& r : retired_) {
    if (r.serial <= s) {
      r.buffer.reset();
      free_range(r.block, r.offset, r.size);
    } else {
      keep.push_back(std::move(r));
    }
  }
  retired_ = std::move(keep);
}

// Returns [offset, offset+size) to the block's free list, merging neighbours; an empty block goes back
// to the driver unless it is the last default-size block of its pool. Caller holds mu_.
void Allocator::free_range(MemoryBlock* block, VkDeviceSize offset, VkDeviceSize size) {
  auto it = block->free.emplace(offset, size).first;
  if (it != block->free.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      block->free.erase(it);
      it = prev;
    }
  }
  auto next = std::next(it);
  if (next != block->free.end() && it->first + it->second == next->first) {
    it->second += next->second;
    block->free.erase(next);
  }
  block->used -= size;
  pools_[block->staging ? 1 : 0].live -= size;
  if (!block->staging) budget_->give(size);
  if (block->used != 0) return;
  for (Pool& pool : pools_) {
    for (auto b = pool.blocks.begin(); b != pool.blocks.end(); ++b) {
      if (&*b != block) continue;
      bool keep = block->size == pool.block_size && pool.blocks.size() == 1;
      if (!keep) pool.blocks.erase(b);  // MemoryHandle frees (and thereby unmaps) the memory
      return;
    }
  }
}

}  // namespace lowbit::detail::vk
