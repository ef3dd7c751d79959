// cl_attention.cpp — attention on OpenCL (kv_append: cl_kv_append.cpp): picks the attention.cl variant (-D options for
// format, head dim, tiles), plans decode split-K (shared with Vulkan: backend/attention_plan.hpp) and
// enqueues decode + merge or prefill.
#include <algorithm>

#include "backend/attention_plan.hpp"
#include "backend/opencl/cl_kv_args.hpp"
#include "backend/opencl/opencl_device.hpp"

namespace lowbit::detail::cl {

namespace {

constexpr uint32_t kFlagOutF32 = 1, kFlagCausal = 2, kFlagFp8PerHead = 4;
constexpr uint64_t kPrefillLocalBytes = 32 * 1024;  // same tiles as Vulkan (fits every device we target)
constexpr uint32_t kDecodeLanes = 4;  // decode: most lanes per key row (partial dots summed in local memory)

std::string base_options(const KvLayerArgs& kv, uint32_t wg) {
  return "-cl-std=CL1.2 -DLB_FMT=" + std::to_string(kv.format) + " -DLB_D=" + std::to_string(kv.head_dim) +
         " -DLB_WG=" + std::to_string(wg) + " -DLB_EPW=" + std::to_string(attn::elems_per_word(kv.format));
}


// Arguments 0..26 of LB_ATTN_ARGS (attention.cl).
void set_attention_args(cl_kernel k, const AttentionArgs& a, cl_mem part, uint32_t splits, uint32_t split_keys,
                        uint32_t chunks) {
  const KvLayerArgs& kv = a.kv;
  set_arg(k, 0, mem(a.q));
  set_kv_cache_args(k, 1, kv);
  set_arg(k, 9, mem(a.q_start));
  set_arg(k, 10, mem(a.block_table));
  set_arg(k, 11, mem(a.seq_lens));
  set_arg(k, 12, mem(a.out));
  set_arg(k, 13, mem(a.out));
  set_arg(k, 14, part);
  cl_uint flags = (a.out_f32 ? kFlagOutF32 : 0) | (a.causal ? kFlagCausal : 0) | (kv.fp8_per_head ? kFlagFp8PerHead : 0);
  set_arg(k, 15, cl_uint(a.q_heads));
  set_arg(k, 16, cl_uint(kv.kv_heads));
  set_arg(k, 17, cl_uint(a.max_blocks));
  set_arg(k, 18, cl_uint(kv.page_size));
  set_arg(k, 19, cl_uint(splits));
  set_arg(k, 20, cl_uint(split_keys));
  set_arg(k, 21, flags);
  set_arg(k, 22, cl_int(a.window));
  set_arg(k, 23, cl_float(a.softcap));
  set_arg(k, 24, cl_float(a.scale));
  set_arg(k, 25, cl_uint(chunks));
}

}  // namespace

void OpenClDevice::attention(const AttentionArgs& a) {
  const KvLayerArgs& kv = a.kv;
  attn::check_head_dim(kv.head_dim, "opencl");
  if (!a.total_q) return;
  if (!a.decode) {
    const attn::PrefillTile tile =
        attn::prefill_tile(kv.head_dim, std::min<uint64_t>(info_.shared_memory_bytes, kPrefillLocalBytes), a.config,
                           info_.shared_memory_bytes, info_.type == "cpu" ? 0 : attn::kGpuPrefillTileElems);
    std::string opts = base_options(kv, attn::kPrefillWorkgroup) + " -DLB_BQ=" + std::to_string(tile.rows) +
                       " -DLB_BK=" + std::to_string(tile.keys);
    cl_kernel k = kernel("attention.cl", opts, "lb_attention_prefill");
    set_attention_args(k, a, nullptr, 1, 0, 1);
    const size_t rows = size_t(a.max_q) * (a.q_heads / kv.kv_heads);  // (query, query head) pairs per kv head
    const size_t gx = (rows + tile.rows - 1) / tile.rows;
    launch2(k, gx * attn::kPrefillWorkgroup, size_t(a.batch) * kv.kv_heads, attn::kPrefillWorkgroup);
    return;
  }
  // CPU devices: one lane per key row (whole dots in a work-item: no barrier per step, vector code per
  // work-item), all the GQA group's heads in it; GPUs: kDecodeLanes lanes summed in local memory
  const bool cpu = info_.type == "cpu";
  const uint32_t lane_cap = a.config.lanes > 0 ? uint32_t(a.config.lanes) : cpu ? 1 : kDecodeLanes;
  const uint32_t wg = cpu && lane_cap == 1 ? attn::cpu_decode_workgroup(info_.subgroup_size) : attn::kWorkgroup;
  attn::DecodePlan plan = attn::plan_decode(a, uint64_t(2) * std::max<cl_uint>(1, max_compute_units_), lane_cap,
                                            false, info_.shared_memory_bytes,
                                            cpu ? attn::kCpuMaxLaneElems : attn::kGpuMaxLaneElems, wg,
                                            attn::default_head_sets(cpu, lane_cap, profile_.whole_row_head_sets),
                                            cpu ? 0u : attn::kGpuMaxStepWords);
  if (plan.merge_slice != kv.head_dim)  // (attention.cl merges whole head dims)
    throw Error(ErrorCode::Unsupported, "opencl attention: decode with " + std::to_string(plan.lanes_per_row) +
                                            " lanes per row and head dim " + std::to_string(kv.head_dim) +
                                            " needs more than the device's " +
                                            std::to_string(info_.shared_memory_bytes) + " bytes of local memory");
  cl_mem part = nullptr;
  if (plan.splits > 1) {
    const size_t bytes = size_t(a.batch) * a.q_heads * plan.splits * (kv.head_dim + 2) * 4;
    if (!attn_partials_ || attn_partials_->size < bytes) attn_partials_ = alloc(bytes);
    part = mem(attn_partials_.get());
  }
  std::string opts = base_options(kv, plan.workgroup) + " -DLB_GC=" + std::to_string(plan.heads_per_group) +
                     " -DLB_LPR=" + std::to_string(plan.lanes_per_row) +
                     " -DLB_KPS=" + std::to_string(plan.keys_per_step) + " -DLB_CE=" + std::to_string(plan.chunk_elems) +
                     " -DLB_PREFETCH=" + (attn::decode_prefetch(a.config, cpu) ? "1" : "0") +
                     " -DLB_HS=" + std::to_string(plan.head_sets);
  cl_kernel k = kernel("attention.cl", opts, "lb_attention_decode");
  set_attention_args(k, a, part, plan.splits, plan.split_keys, plan.chunks);
  launch2(k, size_t(plan.splits) * plan.workgroup, size_t(a.batch) * kv.kv_heads * plan.chunks, plan.workgroup);
  if (plan.splits > 1) {
    cl_kernel m = kernel("attention.cl", base_options(kv, attn::kMergeWorkgroup), "lb_attention_merge");
    cl_uint flags = a.out_f32 ? kFlagOutF32 : 0;
    set_arg(m, 0, part);
    set_arg(m, 1, mem(a.q_start));
    set_arg(m, 2, mem(a.out));
    set_arg(m, 3, mem(a.out));
    set_arg(m, 4, cl_uint(a.q_heads));
    set_arg(m, 5, cl_uint(plan.splits));
    set_arg(m, 6, flags);
    launch2(m, size_t(a.q_heads) * attn::kMergeWorkgroup, a.batch, attn::kMergeWorkgroup);
  }
}

}  // namespace lowbit::detail::cl
