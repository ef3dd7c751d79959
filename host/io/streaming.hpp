// streaming.hpp — helpers for tensors a SafetensorsWriter produces lazily: a result shared by several
// output tensors (a quantized tensor's codes and scales, a packed layer's parts), and a copy of an input
// tensor that drops the input's pages once written. Both keep a streamed conversion at about one
// tensor of memory.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "lowbit/io.hpp"

namespace lowbit::io::detail {

// Computed when the first of `parts` output tensors is produced; freed after the last one.
template <class T>
class SharedResult {
 public:
  SharedResult(std::function<T()> make, int parts) : make_(std::move(make)), left_(parts) {}
  template <class Use>
  void use(Use&& use_result) {
    if (!value_) value_.emplace(make_());
    use_result(*value_);
    if (--left_ == 0) {
      value_.reset();
      make_ = nullptr;
    }
  }

 private:
  std::function<T()> make_;
  std::optional<T> value_;
  int left_;
};

template <class T>
std::shared_ptr<SharedResult<T>> shared_result(std::function<T()> make, int parts) {
  return std::make_shared<SharedResult<T>>(std::move(make), parts);
}

// Writes `data` (a span of `map`) unchanged, then releases its pages.
inline SafetensorsWriter::Producer copy_then_release(std::shared_ptr<MappedFile> map, Bytes data) {
  return [map = std::move(map), data](const SafetensorsWriter::Sink& sink) {
    sink(data);
    map->release(data);
  };
}

}  // namespace lowbit::io::detail
