// vk_pipelines.hpp — compute pipelines built from embedded SPIR-V + specialization constants, cached
// in memory by (shader, binding count, spec values) and on disk through a VkPipelineCache file
// (cache_dir()/vk-pipelines-<vendorID>-<deviceID>.bin, header-checked on load, saved on destruction).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "backend/vulkan/vk_gpu.hpp"

namespace lowbit::detail::vk {

// A pipeline a recorder chose (the choose_*_pipeline functions): the shader, its specialization constants
// (spec[i] = constant i) and whether it must run with full subgroups (Pipelines::get).
struct PipelineChoice {
  std::string kernel;
  std::vector<uint32_t> spec;
  bool full_subgroups = false;
};

struct Pipeline {
  PipelineHandle pipeline;
  VkPipelineLayout layout = VK_NULL_HANDLE;         // owned by Pipelines
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;  // owned by Pipelines
  uint32_t bindings = 0;                            // storage buffers 0..bindings-1 in set 0
  uint32_t push_bytes = 0;
  std::string shader;          // its name, for messages
  std::vector<bool> readonly;  // per binding: the shader never writes it (dispatches must not mark it written)
};

class Pipelines {
 public:
  static constexpr uint32_t kPushBytes = 64;  // one push-constant range shared by every pipeline

  // app_cache: the application's VkPipelineCache (Context::import_vulkan), used instead of the cache file.
  Pipelines(const Gpu& gpu, const std::string& cache_dir_option, VkPipelineCache app_cache = VK_NULL_HANDLE);
  ~Pipelines();  // writes the pipeline cache file (errors are logged, never thrown)
  Pipelines(const Pipelines&) = delete;
  Pipelines& operator=(const Pipelines&) = delete;

  // spec[i] is specialization constant i (32-bit each).
  // full_subgroups: created with REQUIRE_FULL_SUBGROUPS (only where Gpu::full_subgroups_max() is set).
  const Pipeline& get(const std::string& shader, uint32_t bindings, const std::vector<uint32_t>& spec,
                      bool full_subgroups = false);
  const Pipeline& get(const PipelineChoice& c, uint32_t bindings) {
    return get(c.kernel, bindings, c.spec, c.full_subgroups);
  }
  const std::filesystem::path& cache_file() const { return cache_file_; }
  void save_cache() const;

 private:
  VkShaderModule module(const std::string& shader);
  std::vector<uint32_t> spirv(const std::string& shader) const;  // the embedded words (4-byte aligned copy)
  void load_cache();

  const Gpu& gpu_;
  std::filesystem::path cache_file_;
  PipelineCacheHandle cache_;
  VkPipelineCache app_cache_ = VK_NULL_HANDLE;  // not owned
  std::map<std::string, ShaderModuleHandle> modules_;
  std::map<uint32_t, SetLayoutHandle> set_layouts_;             // by binding count
  std::map<uint32_t, PipelineLayoutHandle> pipeline_layouts_;   // by binding count
  std::map<std::tuple<std::string, uint32_t, std::vector<uint32_t>>, std::unique_ptr<Pipeline>> pipelines_;
};

// Checks a VkPipelineCache blob's header against the device; returns "" when usable, else why not.
std::string pipeline_cache_mismatch(const std::vector<unsigned char>& data, const VkPhysicalDeviceProperties& p);
// A VkPipelineCache primed with `data` (a cache file's bytes, `where` names it in warnings) when its header
// fits the device and the driver takes it, else an empty one.
PipelineCacheHandle create_pipeline_cache(const Gpu& gpu, std::vector<unsigned char> data, const std::string& where);

}  // namespace lowbit::detail::vk
