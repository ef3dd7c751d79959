// search_space.hpp — the search space of every tuned kernel family in one place: its knobs and their
// values, the constraints that prune a candidate before anything is compiled (device limits and the
// shape), and the embedded kernel files whose hash keys the tuning database. The knobs reach the
// kernels through the launch planners (backend/gemm_plan.hpp, attention_plan.hpp) and from there as
// specialization constants / -D options (backend/kernel_params.hpp). A new family = one entry here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/gemm_plan.hpp"
#include "lowbit/lowbit.hpp"
#include "lowbit/tuning.hpp"

namespace lowbit::tune {

// What pruning knows of the device.
struct Limits {
  uint32_t max_workgroup = 256;
  uint64_t shared_bytes = 32768;
  uint32_t subgroup = 32;
  bool cpu = false;  // a CPU driver (lavapipe, PoCL)
};
Limits limits_of(const DeviceInfo& d);

// The problem a configuration runs: GEMM M x N x K; attention decode m = batch, k = context,
// page_size; prefill m = queries, k = context, head_dim; kv_append m = tokens, words = the most lanes of
// a cache row (attn::kv_append_max_lanes); quantize / dequantize m = rows, n = columns, block = elements
// per block scale (0: plain FP8).
struct Problem {
  int64_t m = 1, n = 1, k = 1;
  uint32_t page_size = 16, words = 16;
  uint32_t head_dim = 128, block = 0;
};

struct Knob {
  int KernelConfig::*member;
  std::vector<int> values;
};

// What `c` launches for problem `p` on a device the planners see as `d`: the kernel's compile-time
// parameters, K slices and workgroups, as the backends' planners (backend/gemm_plan.hpp,
// attention_plan.hpp) resolve them. Two configs with equal launches are one candidate.
using LaunchFn = std::vector<uint64_t> (*)(const KernelConfig& c, const Problem& p, const detail::DeviceProfile& d);

struct Family {
  std::string name;                      // "gemv_w4", "tiled_f16", "attention_decode", ...
  std::vector<std::string> vulkan_files, opencl_files;  // embedded kernels whose hash keys the database
  std::vector<Knob> knobs;               // empty: nothing to tune yet (the declaration takes new knobs)
  // Why `c` cannot run here ("" when it can): pruned before compiling, and a database entry that fails
  // this is ignored with a warning.
  std::string (*violation)(const KernelConfig& c, const Limits& l, const Problem& p);
  // nullptr: every config is its own launch (the family's planner needs what only its backend knows).
  LaunchFn launch = nullptr;
};

const std::vector<Family>& families();
// Throws Error(InvalidArgument) for an unknown family.
const Family& family(const std::string& name);

// The candidates of `f` for this device and problem, pruned: the default (empty) first, then every knob
// varied alone, then the combinations, each once.
std::vector<KernelConfig> candidates(const Family& f, const Limits& l, const Problem& p);

// `cands` without the configs that launch what an earlier one does (the default first: a knob value
// the planner picks anyway is dropped), so no launch is timed twice and no "win" equals the default;
// a kept config loses the knobs it sets to what the planner picks anyway ("variant=1 split=4" on a
// device whose planner picks variant 1 is "split=4").
// `profile`: the device as its planners see it (Device::launch_profile); nullopt = its kernels take
// no knobs (the CPU reference), so only the first candidate stays.
std::vector<KernelConfig> distinct_launches(const Family& f, const std::vector<KernelConfig>& cands, const Problem& p,
                                            const std::optional<detail::DeviceProfile>& profile);

// Hash of the kernels `f` runs on `b` (the embedded SPIR-V / OpenCL C; "cpu" on the CPU backend).
std::string kernel_hash(const Family& f, Backend b);

}  // namespace lowbit::tune
