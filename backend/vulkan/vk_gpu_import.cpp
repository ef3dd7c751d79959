// vk_gpu_import.cpp — Gpu over the application's VkDevice (Context::import_vulkan): checks the handles, the
// queue family and the features / extensions the application says it enabled (Vulkan cannot be asked),
// naming whatever lowbit needs and does not find. Nothing here is created or destroyed.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "backend/vulkan/vk_coopmat.hpp"
#include "backend/vulkan/vk_gpu.hpp"
#include "host/log.hpp"

namespace lowbit::detail::vk {

namespace {

// What lowbit reads of the application's vkCreateDevice pNext chain.
struct EnabledFeatures {
  bool storage8 = false, storage16 = false, float16 = false;
};

EnabledFeatures parse_feature_chain(const void* chain) {
  EnabledFeatures f;
  for (auto* s = static_cast<const VkBaseInStructure*>(chain); s; s = s->pNext) {
    switch (s->sType) {
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES:
        f.storage16 |= bool(reinterpret_cast<const VkPhysicalDeviceVulkan11Features*>(s)->storageBuffer16BitAccess);
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES: {
        auto* v = reinterpret_cast<const VkPhysicalDeviceVulkan12Features*>(s);
        f.storage8 |= bool(v->storageBuffer8BitAccess);
        f.float16 |= bool(v->shaderFloat16);
        break;
      }
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES:
        f.storage16 |= bool(reinterpret_cast<const VkPhysicalDevice16BitStorageFeatures*>(s)->storageBuffer16BitAccess);
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES:
        f.storage8 |= bool(reinterpret_cast<const VkPhysicalDevice8BitStorageFeatures*>(s)->storageBuffer8BitAccess);
        break;
      case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES:
        f.float16 |= bool(reinterpret_cast<const VkPhysicalDeviceShaderFloat16Int8Features*>(s)->shaderFloat16);
        break;
      default: break;  // VkPhysicalDeviceFeatures2 and anything else: nothing lowbit needs
    }
  }
  return f;
}

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, s); }

void check_handles(const VulkanImport& app) {
  if (!app.instance) bad("import_vulkan: instance is null");
  if (!app.physical_device) bad("import_vulkan: physical_device is null");
  if (!app.device) bad("import_vulkan: device is null");
  if (!app.queue) bad("import_vulkan: queue is null");
  if (bool(app.queue_lock) != bool(app.queue_unlock))
    bad("import_vulkan: queue_lock and queue_unlock must be given together");
  if (!app.enabled_features)
    bad("import_vulkan: enabled_features is null: pass the pNext chain given to vkCreateDevice (a "
        "VkPhysicalDeviceFeatures2 with VkPhysicalDeviceVulkan11Features / VkPhysicalDeviceVulkan12Features), "
        "Vulkan cannot report which features a device was created with");
}

}  // namespace

Gpu::Gpu(std::shared_ptr<Instance> instance, const VulkanImport& app) : instance_(std::move(instance)) {
  check_handles(app);
  pd_ = app.physical_device;
  device_ = app.device;
  queue_ = app.queue;
  owns_device_ = false;
  queue_lock_ = app.queue_lock;
  queue_unlock_ = app.queue_unlock;
  queue_lock_user_ = app.queue_lock_user;
  const std::string who = describe_device(0);

  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd_, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> families(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(pd_, &nq, families.data());
  if (app.queue_family >= nq)
    bad("import_vulkan: queue_family " + std::to_string(app.queue_family) + " does not exist on " + who + " (it has " +
        std::to_string(nq) + ")");
  if (!(families[app.queue_family].queueFlags & VK_QUEUE_COMPUTE_BIT))
    throw Error(ErrorCode::Unsupported, "import_vulkan: queue family " + std::to_string(app.queue_family) + " of " +
                                            who + " cannot run compute work (no VK_QUEUE_COMPUTE_BIT)");
  queue_family_ = app.queue_family;
  timestamp_bits_ = families[queue_family_].timestampValidBits;

  const EnabledFeatures f = parse_feature_chain(app.enabled_features);
  std::vector<std::string> missing;
  if (!f.storage8) missing.push_back("storageBuffer8BitAccess");
  if (!f.storage16) missing.push_back("storageBuffer16BitAccess");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
    throw Error(ErrorCode::Unsupported, "import_vulkan: " + who + " was created without " + list +
                                            ", which lowbit's shaders need (enable them in VkPhysicalDeviceVulkan11Features"
                                            " / VkPhysicalDeviceVulkan12Features)");
  }
  // fp16 arithmetic (the GEMV's exponent-trick dequant) only where the application enabled it; cooperative
  // matrices are not used on an imported device.
  if (!f.float16) info_.fp16 = false;
  info_.cooperative_matrix = info_.coopmat_nv = info_.coopmat_khr = false;
  info_.prefill_attention = prefill_attention_text(std::nullopt);
  // Nor integer dot products (whether the application enabled shaderIntegerDotProduct is not read yet):
  // gemm_w4a8 runs its portable variant.
  info_.integer_dot_product = integer_dot_product_ = false;

  set_binding_range();
  const auto& exts = app.enabled_extensions;
  if (std::find(exts.begin(), exts.end(), VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME) != exts.end() &&
      std::getenv("LOWBIT_VK_NO_PUSH_DESCRIPTORS") == nullptr)
    load_push_descriptors();
  log().debug("vulkan: imported {} ({}), queue family {}, push descriptors {}, fp16 {}", info_.name,
              info_.driver_version, queue_family_, push_descriptor_ ? "yes" : "no", info_.fp16 ? "yes" : "no");
}

}  // namespace lowbit::detail::vk
