// vk_pipelines.cpp — shader modules, layouts, specialised compute pipelines, on-disk pipeline cache.
#include "backend/vulkan/vk_pipelines.hpp"

#include <cstring>

#include "backend/kernels.hpp"
#include "backend/vulkan/spirv_bindings.hpp"
#include "backend/vulkan/vk_pipeline_stats.hpp"
#include "host/cache_dir.hpp"
#include "host/log.hpp"

namespace lowbit::detail::vk {

namespace {

uint32_t read_u32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // VkPipelineCacheHeaderVersionOne is host-endian
}

}  // namespace

std::string pipeline_cache_mismatch(const std::vector<unsigned char>& d, const VkPhysicalDeviceProperties& p) {
  if (d.size() < 32) return "file holds " + std::to_string(d.size()) + " bytes, less than a header";
  uint32_t header_size = read_u32(&d[0]), version = read_u32(&d[4]);
  if (header_size < 32 || header_size > d.size()) return "bad header size " + std::to_string(header_size);
  if (version != VK_PIPELINE_CACHE_HEADER_VERSION_ONE) return "unknown header version " + std::to_string(version);
  if (read_u32(&d[8]) != p.vendorID) return "written for another vendor";
  if (read_u32(&d[12]) != p.deviceID) return "written for another device";
  if (std::memcmp(&d[16], p.pipelineCacheUUID, VK_UUID_SIZE) != 0) return "written by another driver version";
  return "";
}

Pipelines::Pipelines(const Gpu& gpu, const std::string& cache_dir_option, VkPipelineCache app_cache)
    : gpu_(gpu), app_cache_(app_cache) {
  if (app_cache_) return;  // the application's cache: no file of ours
  char name[64];
  std::snprintf(name, sizeof name, "vk-pipelines-%x-%x.bin", gpu.props().vendorID, gpu.props().deviceID);
  cache_file_ = cache_dir(cache_dir_option) / name;
  load_cache();
}

PipelineCacheHandle create_pipeline_cache(const Gpu& gpu, std::vector<unsigned char> data, const std::string& where) {
  if (!data.empty()) {
    std::string why = pipeline_cache_mismatch(data, gpu.props());
    if (!why.empty()) {
      log().warn("vulkan: ignoring pipeline cache '{}': {}", where, why);
      data.clear();
    } else {
      log().debug("vulkan: loaded pipeline cache '{}' ({} bytes)", where, data.size());
    }
  }
  VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  ci.initialDataSize = data.size();
  ci.pInitialData = data.empty() ? nullptr : data.data();
  VkPipelineCache c = VK_NULL_HANDLE;
  VkResult r = vkCreatePipelineCache(gpu.device(), &ci, nullptr, &c);
  if (r != VK_SUCCESS && !data.empty()) {  // the driver refused the contents: start empty
    log().warn("vulkan: driver rejected pipeline cache '{}' ({}); starting empty", where, result_name(r));
    ci.initialDataSize = 0;
    ci.pInitialData = nullptr;
    r = vkCreatePipelineCache(gpu.device(), &ci, nullptr, &c);
  }
  check(r, "vkCreatePipelineCache");
  return PipelineCacheHandle(gpu.device(), c);
}

void Pipelines::load_cache() {
  std::vector<unsigned char> data;
  read_file(cache_file_, data);
  cache_ = create_pipeline_cache(gpu_, std::move(data), cache_file_.string());
}

void Pipelines::save_cache() const {
  if (app_cache_) return;
  size_t n = 0;
  check(vkGetPipelineCacheData(gpu_.device(), cache_, &n, nullptr), "vkGetPipelineCacheData");
  std::vector<unsigned char> data(n);
  check(vkGetPipelineCacheData(gpu_.device(), cache_, &n, data.data()), "vkGetPipelineCacheData");
  data.resize(n);
  write_file_atomic(cache_file_, data.data(), data.size());
  log().debug("vulkan: saved pipeline cache '{}' ({} bytes)", cache_file_.string(), data.size());
}

Pipelines::~Pipelines() {
  try {
    save_cache();
  } catch (const std::exception& e) {
    log().warn("vulkan: could not save the pipeline cache: {}", e.what());
  }
}

std::vector<uint32_t> Pipelines::spirv(const std::string& shader) const {
  auto spv = embedded_file(shader + ".spv");
  if (spv.size() % 4 != 0) throw Error(ErrorCode::Internal, "embedded SPIR-V " + shader + " is truncated");
  std::vector<uint32_t> words(spv.size() / 4);  // copy: pCode must be 4-byte aligned
  std::memcpy(words.data(), spv.data(), spv.size());
  return words;
}

VkShaderModule Pipelines::module(const std::string& shader) {
  auto it = modules_.find(shader);
  if (it != modules_.end()) return it->second;
  std::vector<uint32_t> words = spirv(shader);
  VkShaderModuleCreateInfo ci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  ci.codeSize = words.size() * 4;
  ci.pCode = words.data();
  VkShaderModule m = VK_NULL_HANDLE;
  check(vkCreateShaderModule(gpu_.device(), &ci, nullptr, &m), "vkCreateShaderModule");
  return modules_.emplace(shader, ShaderModuleHandle(gpu_.device(), m)).first->second;
}

const Pipeline& Pipelines::get(const std::string& shader, uint32_t bindings, const std::vector<uint32_t>& spec,
                               bool full_subgroups) {
  auto key = std::make_tuple(full_subgroups ? shader + "#full_subgroups" : shader, bindings, spec);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return *it->second;
  VkDevice dev = gpu_.device();

  if (!set_layouts_.count(bindings)) {
    std::vector<VkDescriptorSetLayoutBinding> b(bindings);
    for (uint32_t i = 0; i < bindings; ++i) {
      b[i].binding = i;
      b[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      b[i].descriptorCount = 1;
      b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo ci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    if (gpu_.push_descriptor_fn()) ci.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
    ci.bindingCount = bindings;
    ci.pBindings = b.data();
    VkDescriptorSetLayout sl = VK_NULL_HANDLE;
    check(vkCreateDescriptorSetLayout(dev, &ci, nullptr, &sl), "vkCreateDescriptorSetLayout");
    set_layouts_.emplace(bindings, SetLayoutHandle(dev, sl));

    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, kPushBytes};
    VkPipelineLayoutCreateInfo li{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    li.setLayoutCount = 1;
    li.pSetLayouts = &sl;
    li.pushConstantRangeCount = 1;
    li.pPushConstantRanges = &range;
    VkPipelineLayout pl = VK_NULL_HANDLE;
    check(vkCreatePipelineLayout(dev, &li, nullptr, &pl), "vkCreatePipelineLayout");
    pipeline_layouts_.emplace(bindings, PipelineLayoutHandle(dev, pl));
  }

  std::vector<VkSpecializationMapEntry> entries(spec.size());
  for (uint32_t i = 0; i < spec.size(); ++i) entries[i] = {i, 4 * i, 4};
  VkSpecializationInfo si{uint32_t(entries.size()), entries.data(), spec.size() * 4, spec.data()};
  VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  if (full_subgroups) ci.stage.flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
  ci.stage.module = module(shader);
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = &si;
  ci.layout = pipeline_layouts_.at(bindings);
  if (gpu_.pipeline_stats()) ci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  VkPipeline p = VK_NULL_HANDLE;
  check(vkCreateComputePipelines(dev, app_cache_ ? app_cache_ : cache_.get(), 1, &ci, nullptr, &p), "vkCreateComputePipelines");
  if (gpu_.pipeline_stats()) {
    std::string values;
    for (uint32_t v : spec) values += (values.empty() ? "" : ",") + std::to_string(v);
    log().info("vulkan: pipeline {} [{}]: {}", shader, values, pipeline_statistics_text(dev, p));
  }

  auto pipe = std::make_unique<Pipeline>();
  pipe->pipeline = PipelineHandle(dev, p);
  pipe->layout = ci.layout;
  pipe->set_layout = set_layouts_.at(bindings);
  pipe->bindings = bindings;
  pipe->push_bytes = kPushBytes;
  pipe->shader = shader;
  pipe->readonly = spirv_readonly_bindings(spirv(shader), bindings);
  return *pipelines_.emplace(std::move(key), std::move(pipe)).first->second;
}

}  // namespace lowbit::detail::vk
