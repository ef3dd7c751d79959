// vk_first_use.cpp — shared pieces of the cooperative-matrix first-use checks (see vk_first_use.hpp).
#include "backend/vulkan/vk_first_use.hpp"

#include <algorithm>
#include <cmath>

#include "host/log.hpp"

namespace lowbit::detail::vk {

bool check_or_log(const std::string& what, const std::string& device, const std::function<bool()>& check) {
  try {
    return check();
  } catch (const std::exception& e) {
    log().warn("vulkan: the {} cannot run on {} ({}); not using it", what, device, e.what());
    return false;
  }
}

bool agrees(const std::vector<float>& got, const std::vector<float>& ref, float& diff, float& peak) {
  diff = 0, peak = 0;
  if (got.size() != ref.size()) return false;
  for (size_t i = 0; i < ref.size(); ++i) {
    peak = std::max(peak, std::fabs(ref[i]));
    diff = std::max(diff, std::fabs(got[i] - ref[i]));
  }
  return diff <= 1e-2f * peak + 1e-3f;  // false for a NaN difference too
}

std::vector<uint16_t> random_halves(std::mt19937& rng, size_t n, uint16_t exponent_bits) {
  std::uniform_int_distribution<uint32_t> bits;
  std::vector<uint16_t> v(n);
  for (auto& h : v) h = uint16_t(exponent_bits + bits(rng) % 0x0C00) ^ uint16_t((bits(rng) & 1) << 15);
  return v;
}

std::shared_ptr<DeviceBuffer> upload(Device& dev, const void* data, size_t bytes) {
  auto b = dev.alloc(bytes);
  dev.write(*b, 0, data, bytes);
  return b;
}

std::vector<float> download_f32(Device& dev, const DeviceBuffer& b, size_t count) {
  std::vector<float> out(count);
  dev.read(b, 0, out.data(), count * 4);
  return out;
}

}  // namespace lowbit::detail::vk
