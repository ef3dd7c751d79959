// ops_copy.cpp — Context::copy: a device-side buffer copy (checked sizes), timed like any op; the
// benchmarks use it to measure a device's achievable memory bandwidth.
#include "backend/device.hpp"
#include "host/device_call.hpp"

namespace lowbit {

void Context::copy(const Buffer& src, Buffer& dst) {
  detail::DeviceCall call(*dev_);
  if (!src.valid() || !dst.valid()) throw Error(ErrorCode::InvalidArgument, "copy: missing buffer");
  if (src.bytes() != dst.bytes())
    throw Error(ErrorCode::InvalidArgument, "copy: source has " + std::to_string(src.bytes()) +
                                                " bytes, destination " + std::to_string(dst.bytes()));
  if (src.mem() == dst.mem()) throw Error(ErrorCode::InvalidArgument, "copy: source and destination are the same buffer");
  detail::CopyArgs a;
  a.src = src.mem().get();
  a.dst = dst.mem().get();
  a.bytes = src.bytes();
  dev_->copy(a);
}

}  // namespace lowbit
