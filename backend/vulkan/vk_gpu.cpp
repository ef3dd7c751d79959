// vk_gpu.cpp — logical device creation: queue choice, required features, optional extensions.
#include "backend/vulkan/vk_gpu.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/kernels.hpp"
#include "backend/vulkan/vk_coopmat.hpp"
#include "backend/vulkan/vk_pipeline_stats.hpp"
#include "backend/vulkan/vk_settings.hpp"
#include "backend/w4a8_plan.hpp"
#include "host/log.hpp"

namespace lowbit::detail::vk {

Gpu::Gpu(std::shared_ptr<Instance> instance, VkPhysicalDevice pd, int index)
    : instance_(std::move(instance)), pd_(pd) {
  const std::string who = describe_device(index);

  // One queue that can run compute; prefer one with timestamps.
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd_, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> families(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(pd_, &nq, families.data());
  int chosen = -1;
  for (uint32_t i = 0; i < nq; ++i) {
    if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    if (chosen < 0 || (families[chosen].timestampValidBits == 0 && families[i].timestampValidBits > 0))
      chosen = int(i);
  }
  if (chosen < 0) throw Error(ErrorCode::Unsupported, who + " has no compute queue");
  queue_family_ = uint32_t(chosen);
  timestamp_bits_ = families[queue_family_].timestampValidBits;

  // Features the conversion shaders use: 8- and 16-bit storage buffers.
  VkPhysicalDeviceVulkan11Features have11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features have12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  have11.pNext = &have12;
  VkPhysicalDeviceFeatures2 have{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  have.pNext = &have11;
  vkGetPhysicalDeviceFeatures2(pd_, &have);
  if (!have12.storageBuffer8BitAccess) throw Error(ErrorCode::Unsupported, who + " lacks storageBuffer8BitAccess");
  if (!have11.storageBuffer16BitAccess)
    throw Error(ErrorCode::Unsupported, who + " lacks storageBuffer16BitAccess");

  VkPhysicalDeviceVulkan11Features use11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features use12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  use11.storageBuffer16BitAccess = VK_TRUE;
  use12.storageBuffer8BitAccess = VK_TRUE;
  use12.shaderFloat16 = have12.shaderFloat16;  // fp16 arithmetic: the GEMV's exponent-trick dequant
  use11.pNext = &use12;
  VkPhysicalDeviceFeatures2 use{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  use.pNext = &use11;

  // Cooperative matrices for the GEMM's CoopMatrix path (fp16 arithmetic, the memory model and 4 subgroups
  // per workgroup): VK_KHR_cooperative_matrix with a shape coopmat_shapes.hpp accepts, preferred; and
  // VK_NV_cooperative_matrix with the 16x8x16 fp16 x fp16 + fp32 shape, kept for devices with NV only
  // and as the fallback when the KHR variant fails its first-use check.
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR use_khr{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceCooperativeMatrixFeaturesNV use_nv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  const CoopmatSupport cm = query_coopmat(instance_->get(), pd_);
  const bool coopmat_off = std::getenv("LOWBIT_VK_NO_COOPMAT") != nullptr;
  void** chain = &use12.pNext;
  if (cm.khr && coopmat_khr_allowed_by_env())
    coopmat_khr_shape_ = coopmat_khr_supported(have12, cm.khr_shapes);
  info_.prefill_attention = prefill_attention_text(coopmat_khr_shape_);
  if (coopmat_khr_shape_) {
    use_khr.cooperativeMatrix = VK_TRUE;
    *chain = &use_khr;
    chain = &use_khr.pNext;
    coopmat_variants_.push_back(CoopmatVariant::Khr);
  }
  if (!coopmat_off && cm.nv && std::getenv("LOWBIT_VK_NO_COOPMAT_NV") == nullptr &&
      coopmat_nv_supported(have12, cm.nv_shapes)) {
    use_nv.cooperativeMatrix = VK_TRUE;
    *chain = &use_nv;
    chain = &use_nv.pNext;
    coopmat_variants_.push_back(CoopmatVariant::Nv);
  }
  // Integer dot products (gemm_w4a8's OpSDotKHR variants): the extension's feature struct, where the device
  // lists the extension (every Vulkan 1.3 device does) and reports the feature.
  VkPhysicalDeviceShaderIntegerDotProductFeatures use_dot{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
  const bool dot_ext = has_device_extension(pd_, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
  integer_dot_product_ = info_.integer_dot_product && dot_ext && int_dot_allowed();
  info_.integer_dot_product = integer_dot_product_;
  if (integer_dot_product_) {
    use_dot.shaderIntegerDotProduct = VK_TRUE;
    *chain = &use_dot;
    chain = &use_dot.pNext;
  }
  if (coopmat()) {
    use12.shaderFloat16 = VK_TRUE;
    use12.vulkanMemoryModel = VK_TRUE;
    // with the memory model on, atomics at Device scope (kv_append's min/max) need this too (VUID-06265;
    // seen on NVIDIA's driver, which reports it)
    use12.vulkanMemoryModelDeviceScope = have12.vulkanMemoryModelDeviceScope;
  }

  // Whole subgroups for the shaders that combine a row's lanes by shuffles (kv_append, attention decode):
  // VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT, core in 1.3, else VK_EXT_subgroup_size_control.
  VkPhysicalDeviceSubgroupSizeControlFeatures have_sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
  VkPhysicalDeviceSubgroupSizeControlProperties sg_props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
  VkPhysicalDeviceSubgroupSizeControlFeatures use_sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
  const bool sg_ext = props_.apiVersion < VK_API_VERSION_1_3 &&
                      has_device_extension(pd_, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
  if (props_.apiVersion >= VK_API_VERSION_1_3 || sg_ext) {
    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &have_sg;
    vkGetPhysicalDeviceFeatures2(pd_, &f2);
    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &sg_props;
    vkGetPhysicalDeviceProperties2(pd_, &p2);
    if (have_sg.subgroupSizeControl && have_sg.computeFullSubgroups) {
      use_sg.subgroupSizeControl = VK_TRUE;
      use_sg.computeFullSubgroups = VK_TRUE;
      *chain = &use_sg;
      chain = &use_sg.pNext;
      full_subgroups_max_ = std::max(1u, sg_props.maxSubgroupSize);
    }
  }

  // The driver's pipeline statistics, only when asked for (capturing them may bypass the pipeline cache).
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR use_exe{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  if (pipeline_stats_requested()) {
    if (has_device_extension(pd_, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) {
      use_exe.pipelineExecutableInfo = VK_TRUE;
      *chain = &use_exe;
      chain = &use_exe.pNext;
      pipeline_stats_ = true;
    } else {
      log().warn("vulkan: LOWBIT_VK_PIPELINE_STATS: {} does not offer VK_KHR_pipeline_executable_properties", info_.name);
    }
  }

  set_binding_range();

  std::vector<const char*> extensions;
  bool push = has_device_extension(pd_, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME) &&
              std::getenv("LOWBIT_VK_NO_PUSH_DESCRIPTORS") == nullptr;
  if (push) extensions.push_back(VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
  if (sg_ext && full_subgroups_max_) extensions.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
  if (coopmat_khr_shape_) extensions.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
  if (integer_dot_product_) extensions.push_back(VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
  if (pipeline_stats_) extensions.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
  if (std::find(coopmat_variants_.begin(), coopmat_variants_.end(), CoopmatVariant::Nv) != coopmat_variants_.end())
    extensions.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = queue_family_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo ci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  ci.pNext = &use;
  ci.queueCreateInfoCount = 1;
  ci.pQueueCreateInfos = &qci;
  ci.enabledExtensionCount = uint32_t(extensions.size());
  ci.ppEnabledExtensionNames = extensions.data();
  check(vkCreateDevice(pd_, &ci, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);
  if (push) load_push_descriptors();

  std::string coopmat_text;
  for (CoopmatVariant v : coopmat_variants_)
    coopmat_text += std::string(coopmat_text.empty() ? "" : ", ") + coopmat_variant_name(v) +
                    (v == CoopmatVariant::Khr ? " " + coopmat_shape_name(*coopmat_khr_shape_) : " 16x8x16");
  log().debug("vulkan: {} ({}), queue family {}, push descriptors {}, max binding range {}, coopmat {}, integer dot product {}",
              info_.name, info_.driver_version, queue_family_, push_descriptor_ ? "yes" : "no", max_range_,
              coopmat_text.empty() ? "no" : coopmat_text, integer_dot_product_ ? "yes" : "no");
}

std::string Gpu::describe_device(int index) {
  vkGetPhysicalDeviceProperties(pd_, &props_);
  info_ = describe(instance_->get(), pd_, index);
  const std::string who = "vulkan device '" + info_.name + "'";
  if (props_.apiVersion < VK_API_VERSION_1_2)
    throw Error(ErrorCode::Unsupported, who + " supports Vulkan " + info_.api_version + ", lowbit needs 1.2");
  return who;
}

void Gpu::set_binding_range() {
  max_range_ = props_.limits.maxStorageBufferRange;
  if (uint64_t env = env_number("LOWBIT_VK_MAX_RANGE", 256, "a byte count"); env && env < max_range_) max_range_ = env;
}

// Loaded through the device itself (vkGetDeviceProcAddr), so an imported device's own entry point is used.
void Gpu::load_push_descriptors() {
  push_descriptor_ =
      reinterpret_cast<PFN_vkCmdPushDescriptorSetKHR>(vkGetDeviceProcAddr(device_, "vkCmdPushDescriptorSetKHR"));
}

const char* coopmat_variant_name(CoopmatVariant v) { return v == CoopmatVariant::Khr ? "KHR" : "NV"; }

// Device limits both coopmat shaders need: fp16 and the memory model (checked by the callers), 4 subgroups
// per workgroup, 32 KiB of shared memory (the NV shader uses all of it, the KHR one 24.5 KiB).
bool Gpu::coopmat_limits_ok() const {
  uint32_t sg = info_.subgroup_size;
  return sg != 0 && 4 * sg <= props_.limits.maxComputeWorkGroupInvocations &&
         props_.limits.maxComputeSharedMemorySize >= 32768;
}

std::optional<CoopmatShape> Gpu::coopmat_khr_supported(const VkPhysicalDeviceVulkan12Features& have12,
                                                       const std::vector<CoopmatShape>& shapes) const {
  if (!have12.shaderFloat16 || !have12.vulkanMemoryModel || !coopmat_limits_ok()) return std::nullopt;
  if (!has_embedded_file("gemm_coopmat_khr.spv")) {  // built without glslang 13 (shaders/glsl/glslang13.cmake)
    log().debug("vulkan: {} has VK_KHR_cooperative_matrix, but this build has no KHR shader", info_.name);
    return std::nullopt;
  }
  // The shader is SPIR-V 1.6 (Vulkan 1.3), and a validation layer older than the extension (1.3.255)
  // would report every use of it as an error.
  if (props_.apiVersion < VK_API_VERSION_1_3 || instance_->api_version() < VK_API_VERSION_1_3) return std::nullopt;
  if (instance_->validation() && instance_->validation_layer_version() < VK_MAKE_API_VERSION(0, 1, 3, 255)) {
    log().info("vulkan: the validation layer ({}) predates VK_KHR_cooperative_matrix; not using it on {}",
               version_string(instance_->validation_layer_version()), info_.name);
    return std::nullopt;
  }
  return choose_coopmat_shape(shapes);
}

bool Gpu::coopmat_nv_supported(const VkPhysicalDeviceVulkan12Features& have12,
                               const std::vector<CoopmatShape>& shapes) const {
  if (!have12.shaderFloat16 || !have12.vulkanMemoryModel || !coopmat_limits_ok()) return false;
  const CoopmatShape& nv = kCoopmatNvShape;  // the NV build of gemm_coopmat.comp runs this one shape
  for (const auto& s : shapes)
    if (s.m == nv.m && s.n == nv.n && s.k == nv.k && s.a == nv.a && s.b == nv.b && s.c == nv.c &&
        s.result == nv.result && s.scope == nv.scope)
      return true;
  return false;
}

Gpu::~Gpu() {
  if (device_ && owns_device_) {
    vkDeviceWaitIdle(device_);
    vkDestroyDevice(device_, nullptr);
  }
}

}  // namespace lowbit::detail::vk
