// shipped.hpp — shipped default configurations for known device classes: what lowbit uses on a device
// whose tuning database has no entry for a shape. Each row says where its numbers came from.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "lowbit/lowbit.hpp"

namespace lowbit::tune {

struct ShippedRow {
  const char* backend;  // "vulkan" / "opencl"
  const char* device;   // case-insensitive substring of the device name
  const char* family;
  int64_t m_min, m_max;  // M range (GEMM) / batch or tokens
  int64_t n, k;          // 0 = any
  const char* config;    // KernelConfig text
  const char* provenance;
};

std::span<const ShippedRow> shipped_rows();
// The first row for this device, family and shape, or null.
const ShippedRow* find_shipped(const DeviceInfo& d, const std::string& family, int64_t m, int64_t n, int64_t k);

}  // namespace lowbit::tune
