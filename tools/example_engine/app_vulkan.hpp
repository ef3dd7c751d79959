// app_vulkan.hpp — the example engine's own Vulkan objects, made the way an engine makes them (nothing of
// lowbit's): an instance (with the Khronos validation layer and a messenger that counts every message when
// LOWBIT_VK_VALIDATION=1), a device with one graphics + compute queue, host-visible buffers, compute
// pipelines of its own shaders, and the VulkanImport that hands the device to lowbit.
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lowbit/interop.hpp"

namespace example {

// A host-visible, coherent storage buffer of the application (mapped for its whole life).
struct AppBuffer {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize size = 0;
  void* mapped = nullptr;
};

// One compute pipeline of the application: `bindings` storage buffers, `push_bytes` of push constants.
struct AppPipeline {
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
};

class AppVulkan {
 public:
  // Throws NoDevice when there is no Vulkan driver or device with a graphics + compute queue.
  // `with_16bit_storage` false leaves storageBuffer16BitAccess off (to see lowbit refuse the device).
  explicit AppVulkan(bool with_16bit_storage = true);
  ~AppVulkan();
  AppVulkan(const AppVulkan&) = delete;
  AppVulkan& operator=(const AppVulkan&) = delete;

  lowbit::VulkanImport import_info() const;
  VkDevice device() const { return device_; }
  VkQueue queue() const { return queue_; }
  VkCommandPool command_pool() const { return pool_; }
  uint64_t validation_messages() const { return messages_; }  // counted by the messenger
  const std::vector<std::string>& message_texts() const { return texts_; }
  bool validation() const { return validation_; }

  AppBuffer create_buffer(VkDeviceSize bytes, VkBufferUsageFlags usage);
  void destroy(AppBuffer& b);
  AppPipeline create_pipeline(const uint32_t* spirv, size_t spirv_bytes, uint32_t bindings, uint32_t push_bytes);
  void destroy(AppPipeline& p);
  VkCommandBuffer begin_commands();                  // a fresh primary command buffer, begun
  void submit_and_wait(VkCommandBuffer cmd);         // submits on queue(), waits for its fence, frees it

  static void on_message(const char* text, void* self);

 private:
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t family_ = 0;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkPhysicalDeviceMemoryProperties memory_{};
  bool validation_ = false;
  uint64_t messages_ = 0;
  std::vector<std::string> texts_;
  std::vector<std::string> extensions_;
  // The feature chain given to vkCreateDevice, kept for import_info().
  VkPhysicalDeviceFeatures2 features_{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  VkPhysicalDeviceVulkan11Features features11_{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features features12_{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
};

}  // namespace example
