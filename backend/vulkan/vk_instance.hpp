// vk_instance.hpp — the VkInstance (optionally with the Khronos validation layer and a debug messenger
// that records every warning/error it reports), and the description of physical devices as DeviceInfo.
#pragma once

#include <vulkan/vulkan.h>

#include <mutex>
#include <string>
#include <vector>

#include "backend/vulkan/vk_common.hpp"

namespace lowbit::detail::vk {

// Validation / driver messages collected by the debug messenger. Shared by instance and device.
class Diagnostics {
 public:
  void add(std::string msg);  // kept, and counted process-wide (lowbit::validation_message_count) unless held
  std::vector<std::string> all() const;
  // The messages of a vkCreateInstance that may fail are held back from the process-wide count: counted by
  // commit_held() when the instance exists, dropped by drop_held() when there is no driver at all (the
  // loader's "no drivers" messages are then the reason the backend is absent, not a misuse by lowbit).
  void hold();
  void commit_held();
  void drop_held();

 private:
  mutable std::mutex mu_;
  std::vector<std::string> msgs_, held_;
  bool holding_ = false;
};

class Instance {
 public:
  // validation: enable VK_LAYER_KHRONOS_validation (throws Unsupported when the layer is missing).
  explicit Instance(bool validation);
  // The application's instance (Context::import_vulkan): used, never destroyed; its debug messages are the
  // application's (diagnostics() stays empty).
  Instance(VkInstance borrowed, uint32_t api_version);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance get() const { return instance_; }
  uint32_t api_version() const { return api_version_; }
  bool validation() const { return validation_; }
  // Spec version of the enabled validation layer (0 without validation): a layer older than an extension
  // reports that extension's use as an error.
  uint32_t validation_layer_version() const { return validation_layer_version_; }
  const Diagnostics& diagnostics() const { return diag_; }
  std::vector<VkPhysicalDevice> physical_devices() const;

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  uint32_t api_version_ = VK_API_VERSION_1_2;
  bool validation_ = false;
  bool owned_ = true;
  uint32_t validation_layer_version_ = 0;
  Diagnostics diag_;  // address handed to the messenger callback: Instance is not movable
};

// Everything lowbit reports about one physical device (DeviceInfo for the public API).
DeviceInfo describe(VkInstance instance, VkPhysicalDevice pd, int index);
std::string vendor_name(uint32_t vendor_id);
bool has_device_extension(VkPhysicalDevice pd, const char* name);

}  // namespace lowbit::detail::vk
