// aligned_view.hpp — tensor bytes of a mapped file as a typed array, whatever their address. A valid
// .safetensors file may start an F16 or I32 tensor at any byte offset (after an odd-sized U8 tensor),
// and reading it through a misaligned T* is undefined behaviour: the view points into the mapping when
// it is suitably aligned for T, else at an aligned copy it owns.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "lowbit/io.hpp"

namespace lowbit::io {

template <class T>
class AlignedView {
 public:
  // `bytes` holds a whole number of T; a partial trailing T is not part of the view.
  explicit AlignedView(Bytes bytes) : size_(bytes.size() / sizeof(T)) {
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(T) == 0) {
      data_ = reinterpret_cast<const T*>(bytes.data());
    } else {
      copy_.resize(size_);
      if (size_) std::memcpy(copy_.data(), bytes.data(), size_ * sizeof(T));
      data_ = copy_.data();
    }
  }
  AlignedView(AlignedView&&) noexcept = default;  // a moved vector keeps its buffer, so data_ stays valid
  AlignedView& operator=(AlignedView&&) noexcept = default;
  AlignedView(const AlignedView&) = delete;
  AlignedView& operator=(const AlignedView&) = delete;

  const T* data() const { return data_; }
  size_t size() const { return size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  std::vector<T> copy_;
  const T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace lowbit::io
