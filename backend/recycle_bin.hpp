// recycle_bin.hpp — the pool behind Device::alloc_pooled on the GPU backends: released buffers wait here,
// by size class, each with the ticket of the last device work that used it (Vulkan: a submission serial;
// OpenCL: a marker event), and are handed out again only once that ticket is done. Cached bytes are
// bounded: past the bound the oldest entries leave the bin for the caller to free.
#pragma once

#include <bit>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

namespace lowbit::detail {

// Capacity of a pooled buffer of `bytes`: at least 256 bytes, then 4 classes per power of two (at most
// 25% more than asked).
inline uint64_t pool_size_class(uint64_t bytes) {
  if (bytes <= 256) return 256;
  const unsigned top = 63 - unsigned(std::countl_zero(bytes - 1));  // 2^top < bytes <= 2^(top+1)
  const uint64_t step = (uint64_t(1) << top) / 4;
  return (bytes + step - 1) / step * step;
}

template <class Item, class Ticket>
class RecycleBin {
 public:
  struct Entry {
    Item item;
    uint64_t bytes = 0;  // the size class
    Ticket ticket;
  };
  explicit RecycleBin(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // An idle buffer of class `bytes` (done(ticket) true), or none.
  template <class Done>
  std::optional<Item> take(uint64_t bytes, Done&& done) {
    auto it = by_class_.find(bytes);
    if (it == by_class_.end()) return std::nullopt;
    for (auto e = it->second.begin(); e != it->second.end(); ++e) {
      if (!done(e->ticket)) continue;
      Item item = std::move(e->item);
      it->second.erase(e);
      cached_ -= bytes;
      return item;
    }
    return std::nullopt;
  }

  // Keeps a released buffer; returns the entries pushed out by the byte bound (smallest classes first,
  // oldest first within a class).
  std::vector<Entry> give(Item item, uint64_t bytes, Ticket ticket) {
    by_class_[bytes].push_back({std::move(item), bytes, std::move(ticket)});
    cached_ += bytes;
    std::vector<Entry> out;
    for (auto it = by_class_.begin(); cached_ > max_bytes_ && it != by_class_.end(); ++it) {
      while (cached_ > max_bytes_ && !it->second.empty()) {
        cached_ -= it->second.front().bytes;
        out.push_back(std::move(it->second.front()));
        it->second.pop_front();
      }
    }
    return out;
  }

  // Every entry whose ticket is done, for the owner to free (memory is short).
  template <class Done>
  std::vector<Entry> take_idle(Done&& done) {
    std::vector<Entry> out;
    for (auto& [bytes, list] : by_class_) {
      for (auto e = list.begin(); e != list.end();) {
        if (!done(e->ticket)) {
          ++e;
          continue;
        }
        cached_ -= e->bytes;
        out.push_back(std::move(*e));
        e = list.erase(e);
      }
    }
    return out;
  }

  // Every entry, for the owner to free (at shutdown).
  std::vector<Entry> take_all() {
    std::vector<Entry> out;
    for (auto& [bytes, list] : by_class_)
      for (auto& e : list) out.push_back(std::move(e));
    by_class_.clear();
    cached_ = 0;
    return out;
  }

 private:
  uint64_t max_bytes_;
  uint64_t cached_ = 0;
  std::map<uint64_t, std::deque<Entry>> by_class_;
};

}  // namespace lowbit::detail
