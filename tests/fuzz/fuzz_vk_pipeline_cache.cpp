// fuzz_vk_pipeline_cache.cpp — libFuzzer target: any bytes as the Vulkan pipeline-cache file
// (<cache_dir>/vk-pipelines-<vendor>-<device>.bin) through vk::create_pipeline_cache on the first Vulkan
// device: lowbit's header check (pipeline_cache_mismatch), then, for a header it accepts, the driver's
// vkCreatePipelineCache with the whole blob. An input whose last byte is odd gets this device's vendor
// ID, device ID and pipelineCacheUUID written into its header first, so that the driver side is fuzzed
// too and not only the rejection of foreign headers.
#include <cstring>

#include "backend/vulkan/vk_pipelines.hpp"
#include "fuzz/fuzz_files.hpp"

using namespace lowbit::detail::vk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Never destroyed: destroying the instance would unload the driver, and LSan would then report the
  // driver's own leftovers with unknown frames that tests/sanitizers/lsan.supp cannot name.
  static auto* instance = new std::shared_ptr<Instance>(std::make_shared<Instance>(/*validation=*/false));
  static Gpu& gpu = *new Gpu(*instance, (*instance)->physical_devices().at(0), 0);
  std::vector<unsigned char> bytes(data, data + size);
  if (size >= 32 && (data[size - 1] & 1)) {
    const VkPhysicalDeviceProperties& p = gpu.props();
    std::memcpy(&bytes[8], &p.vendorID, 4);
    std::memcpy(&bytes[12], &p.deviceID, 4);
    std::memcpy(&bytes[16], p.pipelineCacheUUID, VK_UUID_SIZE);
  }
  try {
    PipelineCacheHandle cache = create_pipeline_cache(gpu, std::move(bytes), "fuzz input");
  } catch (const lowbit::Error&) {
  }
  return 0;
}
