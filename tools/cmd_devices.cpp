// cmd_devices.cpp — `lowbit devices [--json]`: every backend with its devices and their limits and
// features; an absent backend is listed with the reason.
#include <cstdio>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "tools/cli.hpp"

namespace lowbit::cli {

namespace {

// How gemm_w4a8 multiplies on the device: packed 4x8-bit integer dot products, or the portable path.
const char* w4a8_path(const DeviceInfo& d) { return d.integer_dot_product ? "integer dot product" : "portable"; }
// Which prefill attention kernel the device runs (the backend's word; other backends: scalar).
std::string prefill_kernel(const DeviceInfo& d) { return d.prefill_attention.empty() ? "scalar" : d.prefill_attention; }

nlohmann::ordered_json device_json(const DeviceInfo& d) {
  return {{"index", d.index},
          {"name", d.name},
          {"type", d.type},
          {"vendor", d.vendor},
          {"vendor_id", d.vendor_id},
          {"device_id", d.device_id},
          {"driver_version", d.driver_version},
          {"api_version", d.api_version},
          {"subgroup_size", d.subgroup_size},
          {"shared_memory_bytes", d.shared_memory_bytes},
          {"max_workgroup_size", d.max_workgroup_size},
          {"max_buffer_range", d.max_buffer_range},
          {"fp16", d.fp16},
          {"int8", d.int8},
          {"integer_dot_product", d.integer_dot_product},
          {"cooperative_matrix", d.cooperative_matrix},
          {"coopmat_nv", d.coopmat_nv},
          {"coopmat_nv_shapes", d.coopmat_nv_shapes},
          {"coopmat_khr", d.coopmat_khr},
          {"coopmat_khr_shapes", d.coopmat_khr_shapes},
          {"w4a8", w4a8_path(d)},
          {"prefill_attention", prefill_kernel(d)}};
}

std::string human_bytes(uint64_t b) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  double v = double(b);
  while (v >= 1024 && u < 4 && (b % 1024 == 0 || v >= 10 * 1024)) {
    v /= 1024;
    ++u;
    b /= 1024;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v == double(uint64_t(v)) ? "%.0f %s" : "%.1f %s", v, unit[u]);
  return buf;
}

// One line per cooperative-matrix extension the device has: its shapes, comma-separated.
void print_coopmat(const char* extension, bool supported, const std::vector<std::string>& shapes) {
  if (!supported) return;
  std::string list;
  for (const auto& s : shapes) list += (list.empty() ? "" : ", ") + s;
  std::printf("      %s: %s\n", extension, list.c_str());
}

void print_text(const std::vector<BackendReport>& reports) {
  auto yn = [](bool b) { return b ? "yes" : "no"; };
  for (const auto& r : reports) {
    if (!r.available) {
      std::printf("%s: not available (%s)\n", to_string(r.backend), r.reason.c_str());
      continue;
    }
    std::printf("%s: %zu device(s)\n", to_string(r.backend), r.devices.size());
    for (const auto& d : r.devices) {
      std::printf("  [%d] %s\n", d.index, d.name.c_str());
      std::printf("      type %s, vendor %s, driver %s, api %s\n", d.type.c_str(), d.vendor.c_str(),
                  d.driver_version.c_str(), d.api_version.c_str());
      std::printf("      vendor 0x%04x device 0x%04x%s\n", d.vendor_id, d.device_id,
                  d.device_id ? "" : " (device id unknown)");
      std::printf("      subgroup %u, shared memory %s, max workgroup %u, max storage buffer %s\n", d.subgroup_size,
                  human_bytes(d.shared_memory_bytes).c_str(), d.max_workgroup_size,
                  human_bytes(d.max_buffer_range).c_str());
      std::printf("      fp16 %s, int8 %s, integer dot product %s, cooperative matrix %s\n", yn(d.fp16), yn(d.int8),
                  yn(d.integer_dot_product), yn(d.cooperative_matrix));
      std::printf("      w4a8: %s\n", w4a8_path(d));
      std::printf("      prefill attention: %s\n", prefill_kernel(d).c_str());
      print_coopmat("VK_NV_cooperative_matrix", d.coopmat_nv, d.coopmat_nv_shapes);
      print_coopmat("VK_KHR_cooperative_matrix", d.coopmat_khr, d.coopmat_khr_shapes);
    }
  }
}

}  // namespace

Command add_devices_command(CLI::App& root) {
  auto* cmd = root.add_subcommand("devices", "List every backend and its devices (limits and features)");
  auto json_out = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json_out, "print JSON on stdout instead of text");
  return {cmd, [json_out] {
            std::vector<BackendReport> reports = probe_backends();
            if (!*json_out) {
              print_text(reports);
              return 0;
            }
            nlohmann::ordered_json j = {{"backends", nlohmann::ordered_json::array()}};
            for (const auto& r : reports) {
              nlohmann::ordered_json b = {{"backend", to_string(r.backend)}, {"available", r.available}};
              if (!r.available) b["reason"] = r.reason;
              b["devices"] = nlohmann::ordered_json::array();
              for (const auto& d : r.devices) b["devices"].push_back(device_json(d));
              j["backends"].push_back(b);
            }
            std::printf("%s\n", j.dump(2).c_str());
            return 0;
          },
          /*prints_report=*/true};
}

}  // namespace lowbit::cli
