// kernel_stats.cpp — lowbit_kernel_stats: the driver's statistics (registers, spills, scratch, shared memory,
// waves per SIMD: whatever VK_KHR_pipeline_executable_properties reports) of the attention (decode, prefill,
// kv_append) and GEMM pipelines lowbit's planners choose for a shape on a Vulkan device, compiled but never run. No buffer is
// made, so it also works where memory cannot be allocated, e.g. RADV's null device, which compiles for any
// AMD family on a machine without one:
//   RADV_FORCE_FAMILY=gfx1100 VK_DRIVER_FILES=/usr/share/vulkan/icd.d/radeon_icd.x86_64.json
//     lowbit_kernel_stats decode --kv-format int4 --context 8192 [--config "spread=1 keys=4"]
//   ... lowbit_kernel_stats prefill --kv-format int8 --q-len 512 [--coopmat]
//   ... lowbit_kernel_stats kv_append --kv-format int4 --tokens 16
//   ... lowbit_kernel_stats gemm --shape 1,4096,4096 [--fp16] [--path gemv|tiled|coopmat] [--config variant=1]
// Prints the chosen shader, its specialization constants, the plan, then the statistics. A developer's
// tool for kernel work (README "Compiler statistics without the GPU"); not installed.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "backend/vulkan/vk_attention.hpp"
#include "backend/vulkan/vk_device_profile.hpp"
#include "backend/vulkan/vk_gemm.hpp"
#include "backend/vulkan/vk_gpu.hpp"
#include "backend/vulkan/vk_instance.hpp"
#include "backend/vulkan/vk_pipeline_stats.hpp"
#include "backend/vulkan/vk_pipelines.hpp"
#include "lowbit/attention.hpp"
#include "lowbit/tuning.hpp"

namespace vk = lowbit::detail::vk;
using lowbit::KernelConfig;

namespace {

std::string join(const std::vector<uint32_t>& v) {
  std::string s;
  for (uint32_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

// Compiles the chosen pipeline on the device with statistics captured and prints them.
void print_pipeline(vk::Pipelines& pipelines, const vk::Gpu& gpu, const vk::PipelineChoice& c, uint32_t bindings) {
  const vk::Pipeline& p = pipelines.get(c, bindings);
  std::printf("pipeline %s [%s]%s\n", c.kernel.c_str(), join(c.spec).c_str(), c.full_subgroups ? " full subgroups" : "");
  std::printf("  %s\n", vk::pipeline_statistics_text(gpu.device(), p.pipeline.get()).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lowbit_kernel_stats: driver statistics of the pipelines lowbit's planners choose (compiled, not run)"};
  app.require_subcommand(1);
  int device = 0;
  std::string config;
  app.add_option("--device", device, "Vulkan physical device index")->capture_default_str();

  auto* dec = app.add_subcommand("decode", "decode attention (one query per sequence)");
  std::string kv_format = "fp16";
  uint32_t q_heads = 32, kv_heads = 8, head_dim = 128, context = 8192, batch = 1, page = 16;
  dec->add_option("--kv-format", kv_format, "fp16|int8|int4|e4m3|e5m2")->capture_default_str();
  dec->add_option("--q-heads", q_heads)->capture_default_str();
  dec->add_option("--kv-heads", kv_heads)->capture_default_str();
  dec->add_option("--head-dim", head_dim)->capture_default_str();
  dec->add_option("--context", context, "keys per sequence")->capture_default_str();
  dec->add_option("--batch", batch)->capture_default_str();
  dec->add_option("--page-size", page)->capture_default_str();
  dec->add_option("--config", config, "decode knobs, as lowbit bench --config (e.g. spread=4 keys=2)");

  auto* pre = app.add_subcommand("prefill", "prefill attention (the scalar kernel; --coopmat: the KHR matrix one)");
  uint32_t q_len = 512;
  bool coopmat = false;
  pre->add_option("--kv-format", kv_format, "fp16|int8|int4|e4m3|e5m2")->capture_default_str();
  pre->add_option("--q-heads", q_heads)->capture_default_str();
  pre->add_option("--kv-heads", kv_heads)->capture_default_str();
  pre->add_option("--head-dim", head_dim)->capture_default_str();
  pre->add_option("--q-len", q_len, "queries per sequence")->capture_default_str();
  pre->add_flag("--coopmat", coopmat, "the cooperative-matrix kernel where the device has a plan for it");
  pre->add_option("--config", config, "prefill knobs, as lowbit bench --config (rows = BQ, keys = BK)");

  auto* app_kv = app.add_subcommand("kv_append", "kv_append (quantize new K/V rows into the cache)");
  uint32_t tokens = 1;
  app_kv->add_option("--kv-format", kv_format, "fp16|int8|int4|e4m3|e5m2")->capture_default_str();
  app_kv->add_option("--kv-heads", kv_heads)->capture_default_str();
  app_kv->add_option("--head-dim", head_dim)->capture_default_str();
  app_kv->add_option("--tokens", tokens, "new tokens (a decode step of batch B: B)")->capture_default_str();
  app_kv->add_option("--config", config, "kv_append knobs (rows = rows per workgroup)");

  auto* gemm = app.add_subcommand("gemm", "W4A16 (or fp16) GEMM Y = X · Wᵀ");
  std::string shape = "1,4096,4096", path = "auto";
  bool fp16 = false;
  int group = 128;
  gemm->add_option("--shape", shape, "M,N,K")->capture_default_str();
  gemm->add_option("--path", path, "auto|gemv|tiled|coopmat")->capture_default_str();
  gemm->add_option("--group", group)->capture_default_str();
  gemm->add_flag("--fp16", fp16, "fp16 weights instead of int4");
  gemm->add_option("--config", config, "GEMM knobs, as lowbit bench --config (e.g. variant=1 split=32)");
  CLI11_PARSE(app, argc, argv);

  KernelConfig knobs;
  int format = 0;
  try {  // the arguments first: a bad one exits 2, naming it
    knobs = config.empty() ? KernelConfig{} : lowbit::parse_kernel_config(config);
    format = int(lowbit::parse_kv_format(kv_format));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lowbit_kernel_stats: %s\n", e.what());
    return 2;
  }
  try {
    setenv("LOWBIT_VK_PIPELINE_STATS", "1", 0);
    setenv("LOWBIT_LOG", "warn", 0);  // the statistics are printed below, not also logged  // the device enables VK_KHR_pipeline_executable_properties
    setenv("MESA_SHADER_CACHE_DISABLE", "true", 0);  // a driver's cache hit may come without statistics
    auto instance = std::make_shared<vk::Instance>(false);
    auto pds = instance->physical_devices();
    if (device < 0 || size_t(device) >= pds.size()) {
      std::fprintf(stderr, "lowbit_kernel_stats: no Vulkan device %d (%zu found)\n", device, pds.size());
      return 2;
    }
    // Never destroyed: RADV's null device crashes in vkDestroyDevice (Mesa 22.3), and the process ends here.
    auto* gpu = new vk::Gpu(instance, pds[size_t(device)], device);
    auto* pipelines = new vk::Pipelines(*gpu, "");  // reads lowbit's pipeline cache, never writes it;
    std::printf("device %s, subgroup %u, shared memory %u, compute units %u (0: unknown)\n", gpu->info().name.c_str(),
                gpu->info().subgroup_size, gpu->limits().maxComputeSharedMemorySize,
                vk::device_profile(*gpu).compute_units);
    if (app_kv->parsed()) {
      lowbit::detail::KvLayerArgs kv;
      kv.format = format, kv.kv_heads = kv_heads, kv.head_dim = head_dim, kv.page_size = page;
      const vk::KvAppendPipeline c = vk::choose_kv_append_pipeline(*gpu, kv, tokens, knobs.rows);
      std::printf("kv_append plan: workgroup %u, rows per workgroup %u, lanes per row %u, %lu workgroups\n",
                  c.plan.workgroup(), c.plan.rows_per_group, c.plan.lanes_per_row, (unsigned long)c.plan.groups);
      print_pipeline(*pipelines, *gpu, c, 11);
    } else if (dec->parsed() || pre->parsed()) {
      const bool decode = dec->parsed();
      const uint32_t keys = decode ? context : q_len;
      lowbit::detail::AttentionArgs a;
      a.kv.format = format;
      a.kv.kv_heads = kv_heads, a.kv.head_dim = head_dim, a.kv.page_size = page;
      a.kv.num_pages = batch * ((keys + page - 1) / page);
      a.batch = batch, a.q_heads = q_heads, a.max_kv = keys, a.max_blocks = (keys + page - 1) / page;
      a.max_q = decode ? 1 : q_len, a.total_q = batch * a.max_q;
      a.decode = decode;
      a.config = knobs;
      a.split_pages = knobs.split;
      if (!decode) {
        const vk::PrefillPipeline c = vk::choose_prefill_pipeline(*gpu, a, coopmat);
        std::printf("prefill plan: %u (query, head) rows per workgroup\n", c.tile_rows);
        print_pipeline(*pipelines, *gpu, c, 12);
        std::fflush(stdout);
        std::_Exit(0);
      }
      const vk::DecodePipeline c = vk::choose_decode_pipeline(*gpu, a);
      const auto& p = c.plan;
      std::printf("decode plan: workgroup %u, heads per lane group %u, head sets %u, lanes per row %u, keys per "
                  "step %u, chunk %u, splits %u, chunks %u\n",
                  p.workgroup, p.heads_per_group, p.head_sets, p.lanes_per_row, p.keys_per_step, p.chunk_elems,
                  p.splits, p.chunks);
      print_pipeline(*pipelines, *gpu, c, 12);
    } else {
      lowbit::detail::GemmArgs a;
      if (std::sscanf(shape.c_str(), "%lu,%lu,%lu", &a.m, &a.n, &a.k) != 3 || !a.m || !a.n || !a.k) {
        std::fprintf(stderr, "lowbit_kernel_stats: --shape wants M,N,K, got %s\n", shape.c_str());
        return 2;
      }
      a.w4 = !fp16, a.group = fp16 ? 0 : group, a.config = knobs, a.split_k = knobs.split, a.stages = knobs.stages;
      a.path = path == "gemv"      ? lowbit::GemmPath::Gemv
               : path == "tiled"   ? lowbit::GemmPath::Tiled
               : path == "coopmat" ? lowbit::GemmPath::CoopMatrix
               : a.m <= 16         ? lowbit::GemmPath::Gemv
               : gpu->coopmat()    ? lowbit::GemmPath::CoopMatrix
                                   : lowbit::GemmPath::Tiled;
      const vk::GemmPipeline c = vk::choose_gemm_pipeline(
          *gpu, vk::device_profile(*gpu), vk::gemm_f16_dequant(*gpu), a,
          gpu->coopmat() ? gpu->coopmat_variants().front() : vk::CoopmatVariant::Khr);
      std::printf("gemm plan: shared %u bytes, stages %u", c.shared_bytes, c.stages);
      if (a.path == lowbit::GemmPath::Gemv)
        std::printf(", GEMV variant %u, K slices %u (%u rows each), %lu workgroups", c.gemv.variant(), c.gemv.splits,
                    c.gemv.k_split, (unsigned long)c.gemv.workgroups());
      std::printf("\n");
      print_pipeline(*pipelines, *gpu, c, 6);
    }
    std::fflush(stdout);
    std::_Exit(0);  // skip the destructors (above)
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lowbit_kernel_stats: %s\n", e.what());
    std::fflush(stderr);
    std::_Exit(1);
  }
}
