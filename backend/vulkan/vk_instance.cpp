// vk_instance.cpp — instance creation, validation layer + debug messenger, physical device description.
#include "backend/vulkan/vk_instance.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>

#include "backend/vulkan/vk_coopmat.hpp"
#include "host/log.hpp"
#include "host/validation_log.hpp"

namespace lowbit::detail::vk {

void Diagnostics::add(std::string msg) {
  std::lock_guard<std::mutex> lock(mu_);
  if (holding_) held_.push_back(msg);
  else record_validation_message(msg);  // outlives the instance: messages during destruction count too
  msgs_.push_back(std::move(msg));
}

void Diagnostics::hold() {
  std::lock_guard<std::mutex> lock(mu_);
  holding_ = true;
}

void Diagnostics::commit_held() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& m : held_) record_validation_message(std::move(m));
  held_.clear();
  holding_ = false;
}

void Diagnostics::drop_held() {
  std::lock_guard<std::mutex> lock(mu_);
  held_.clear();
  holding_ = false;
}

std::vector<std::string> Diagnostics::all() const {
  std::lock_guard<std::mutex> lock(mu_);
  return msgs_;
}

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                VkDebugUtilsMessageTypeFlagsEXT,
                                                const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  if (severity < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) return VK_FALSE;
  std::string text = data && data->pMessage ? data->pMessage : "(no message)";
  if (data && data->pMessageIdName) text = std::string(data->pMessageIdName) + ": " + text;
  log().warn("vulkan validation: {}", text);
  static_cast<Diagnostics*>(user)->add(std::move(text));
  return VK_FALSE;
}

// The layer's Vulkan spec version (the headers it was built from), 0 when it is not installed.
uint32_t layer_version(const char* name) {
  uint32_t n = 0;
  vkEnumerateInstanceLayerProperties(&n, nullptr);
  std::vector<VkLayerProperties> layers(n);
  vkEnumerateInstanceLayerProperties(&n, layers.data());
  for (auto& l : layers)
    if (std::strcmp(l.layerName, name) == 0) return std::max<uint32_t>(l.specVersion, 1);
  return 0;
}

bool has_instance_extension(const char* name, const char* layer = nullptr) {
  uint32_t n = 0;
  vkEnumerateInstanceExtensionProperties(layer, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateInstanceExtensionProperties(layer, &n, exts.data());
  for (auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

}  // namespace

Instance::Instance(bool validation) : validation_(validation) {
  uint32_t loader_version = VK_API_VERSION_1_0;
  vkEnumerateInstanceVersion(&loader_version);
  if (loader_version < VK_API_VERSION_1_2)
    throw Error(ErrorCode::Unsupported, "vulkan: the loader supports Vulkan " + version_string(loader_version) +
                                            ", lowbit needs 1.2 or newer");
  api_version_ = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;

  std::vector<const char*> layers, extensions;
  VkDebugUtilsMessengerCreateInfoEXT messenger_info{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  messenger_info.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  messenger_info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  messenger_info.pfnUserCallback = on_debug_message;
  messenger_info.pUserData = &diag_;
  // Synchronization validation checks the barriers between our dispatches too.
  VkValidationFeatureEnableEXT sync_validation = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = &sync_validation;

  const void* next = nullptr;
  if (validation_) {
    validation_layer_version_ = layer_version(kValidationLayer);
    if (validation_layer_version_ == 0)
      throw Error(ErrorCode::Unsupported,
                  "LOWBIT_VK_VALIDATION=1 but VK_LAYER_KHRONOS_validation is not installed "
                  "(install vulkan-validationlayers, or unset LOWBIT_VK_VALIDATION)");
    layers.push_back(kValidationLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    next = &messenger_info;
    if (has_instance_extension(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME, kValidationLayer)) {
      extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
      features.pNext = &messenger_info;
      next = &features;
    }
  }

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "lowbit";
  app.pEngineName = "lowbit";
  app.apiVersion = api_version_;
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.pNext = next;
  ci.pApplicationInfo = &app;
  ci.enabledLayerCount = uint32_t(layers.size());
  ci.ppEnabledLayerNames = layers.data();
  ci.enabledExtensionCount = uint32_t(extensions.size());
  ci.ppEnabledExtensionNames = extensions.data();
  diag_.hold();
  VkResult r = vkCreateInstance(&ci, nullptr, &instance_);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER) diag_.drop_held();
  else diag_.commit_held();
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
    throw Error(ErrorCode::NotFound, "vulkan: no Vulkan driver (ICD) installed: vkCreateInstance: " +
                                         std::string(result_name(r)));
  check(r, "vkCreateInstance");

  if (validation_) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    if (!create || create(instance_, &messenger_info, nullptr, &messenger_) != VK_SUCCESS) {
      vkDestroyInstance(instance_, nullptr);
      throw Error(ErrorCode::Unsupported, "vulkan: cannot create the VK_EXT_debug_utils messenger");
    }
  }
}

Instance::Instance(VkInstance borrowed, uint32_t api_version)
    : instance_(borrowed), api_version_(api_version), owned_(false) {}

Instance::~Instance() {
  if (!owned_) return;
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  vkDestroyInstance(instance_, nullptr);
}

std::vector<VkPhysicalDevice> Instance::physical_devices() const {
  uint32_t n = 0;
  check(vkEnumeratePhysicalDevices(instance_, &n, nullptr), "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> pds(n);
  check(vkEnumeratePhysicalDevices(instance_, &n, pds.data()), "vkEnumeratePhysicalDevices");
  pds.resize(n);
  return pds;
}

std::string vendor_name(uint32_t id) {
  switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x1022: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x106B: return "Apple";
    case 0x1010: return "Imagination";
    case 0x14E4: return "Broadcom";
    case 0x10005: return "Mesa";
    case 0x10002: return "VeriSilicon";
    case 0x10003: return "Kazan";
    case 0x10004: return "Codeplay";
    case 0x10006: return "PoCL";
    default: break;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%04X", id);
  return buf;
}

bool has_device_extension(VkPhysicalDevice pd, const char* name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data());
  for (auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

static const char* type_name(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
  }
}

DeviceInfo describe(VkInstance instance, VkPhysicalDevice pd, int index) {
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  subgroup.pNext = &driver;
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props.pNext = &subgroup;
  vkGetPhysicalDeviceProperties2(pd, &props);
  const VkPhysicalDeviceProperties& p = props.properties;

  bool core13 = p.apiVersion >= VK_API_VERSION_1_3;
  bool dot_ext = has_device_extension(pd, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan13Features f13{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES};
  VkPhysicalDeviceShaderIntegerDotProductFeatures fdot{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  if (p.apiVersion >= VK_API_VERSION_1_2) {  // older devices: lowbit cannot use them; report no features
    feats.pNext = &f12;
    if (core13) {
      f12.pNext = &f13;
    } else if (dot_ext) {
      f12.pNext = &fdot;
    }
    vkGetPhysicalDeviceFeatures2(pd, &feats);
  }

  DeviceInfo d;
  d.backend = Backend::Vulkan;
  d.index = index;
  d.name = p.deviceName;
  d.type = type_name(p.deviceType);
  d.vendor = vendor_name(p.vendorID);
  d.vendor_id = p.vendorID;
  d.device_id = p.deviceID;
  d.driver_version = std::string(driver.driverName) + (driver.driverInfo[0] ? " " : "") + driver.driverInfo;
  if (d.driver_version.empty()) d.driver_version = std::to_string(p.driverVersion);
  d.api_version = version_string(p.apiVersion);
  d.subgroup_size = subgroup.subgroupSize;
  d.shared_memory_bytes = p.limits.maxComputeSharedMemorySize;
  d.max_workgroup_size = p.limits.maxComputeWorkGroupInvocations;
  d.max_buffer_range = p.limits.maxStorageBufferRange;
  d.fp16 = f12.shaderFloat16;
  d.int8 = f12.storageBuffer8BitAccess && f12.shaderInt8;
  d.integer_dot_product = core13 ? bool(f13.shaderIntegerDotProduct) : (dot_ext && fdot.shaderIntegerDotProduct);
  CoopmatSupport cm = query_coopmat(instance, pd);
  d.coopmat_nv = cm.nv;
  d.coopmat_khr = cm.khr;
  for (const auto& s : cm.nv_shapes) d.coopmat_nv_shapes.push_back(coopmat_shape_name(s));
  for (const auto& s : cm.khr_shapes) d.coopmat_khr_shapes.push_back(coopmat_shape_name(s));
  d.cooperative_matrix = cm.nv || cm.khr;
  // The prefill kernel (backend/vulkan/vk_attention.cpp): the KHR cooperative-matrix one needs a usable shape,
  // Vulkan 1.3 with fp16 and the memory model; it runs once it passed its check. (A device lowbit opens
  // refines this with what it enables: Gpu.)
  const bool khr_ok = cm.khr && core13 && f12.shaderFloat16 && f12.vulkanMemoryModel && coopmat_khr_allowed_by_env();
  d.prefill_attention = prefill_attention_text(khr_ok ? choose_coopmat_shape(cm.khr_shapes) : std::nullopt);
  return d;
}

}  // namespace lowbit::detail::vk
