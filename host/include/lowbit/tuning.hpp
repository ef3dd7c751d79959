// tuning.hpp — kernel launch configurations: the knobs the autotuner searches (a small struct of named
// ints, 0 = the launch planner's choice), the choice an op made and where it came from, and the tuner's
// entry points (autotune/).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace lowbit {

// One launch configuration. Each kernel family reads the knobs it has (autotune/search_space.cpp
// declares which, with their values and constraints) and ignores the others; 0 leaves a knob to the planner.
struct KernelConfig {
  int variant = 0;  // GEMV int4: 1 staged (X chunks in shared memory), 2 K-partitioned, 3 lane-reduced;
                    // decode attention: 1 no prefetch, 2 prefetch, 3 partial dots through shared memory
  int wg = 0;       // GEMV: invocations per workgroup (staged), their cap (K-partitioned)
  int cols = 0;     // GEMV int4: adjacent columns per invocation (1, 4, 8)
  int split = 0;    // GEMM: K slices (reduced in a second pass); decode attention: pages per split
  int bm = 0;       // tiled GEMM: output tile rows (16, 32, 64)
  int tile = 0;     // tiled GEMM register tile: 1 = 8x4 / 4x8 with BK 16 (GPU), 2 = (BM/8)x16 with BK 32
  int stages = 0;   // tiled / cooperative-matrix GEMM: K pipeline depth (1 = serial)
  int keys = 0;     // decode attention: keys per lane-group step (divides the page size); prefill: keys per tile
  int rows = 0;     // kv_append: (token, kv head) rows per workgroup; prefill attention: query rows per tile;
                    // decode attention: query heads per workgroup (at most: lowers the planner's count)
  int elems = 0;    // quantize / dequantize: elements per invocation (block formats: a multiple of the block);
                    // decode attention: elements of a cache row a lane loads at once (8, or 16 but for fp16 KV)
  int u = 0;        // GEMV int4: word rows whose loads are issued together, before their math (1, 2, 4, 8)
  int lanes = 0;    // decode attention: most invocations sharing a key row (a power of two; 1 = whole rows per
                    // invocation, the CPU drivers' default; GPUs: the subgroup size, partial dots summed by shuffles)
  int spread = 0;   // decode attention: head sets, a power of two: the workgroup's lane groups split into this many
                    // sets that read the same keys, each serving its own query heads (fewer q slices and
                    // accumulators per invocation, K/V still read once per workgroup); 1 = the default
  bool empty() const { return *this == KernelConfig{}; }
  bool operator==(const KernelConfig&) const = default;
};

// The knobs by name, in print order (the one table to_string / parse_kernel_config read).
struct KernelKnob {
  const char* name;
  int KernelConfig::*member;
};
std::span<const KernelKnob> kernel_knobs();
// "variant=2 wg=256 split=4" (set knobs only; "default" when none is set).
std::string to_string(const KernelConfig& c);
// The inverse of to_string; throws Error(InvalidArgument) naming the bad knob.
KernelConfig parse_kernel_config(const std::string& s);

// What an op launched with: its kernel family ("gemv_w4", "tiled_f16", "attention_decode", ...), the
// configuration, and where it came from: "tuned" (tuning database), "default" (a tuned entry whose
// winner was the default), "shipped" (the table of known devices), "heuristic" (the launch planner),
// "override" (Context::set_kernel_config).
struct KernelChoice {
  std::string family;
  KernelConfig config;
  std::string source = "heuristic";
  std::string format;            // the lookup key's format ("g128", "f16", "int8 hq32 hkv8 d128 p16", ...)
  int64_t m = 0, n = 0, k = 0;   // and shape (M before bucketing)
  uint64_t serial = 0;           // lookups the context made up to this one (0: none yet)
};

}  // namespace lowbit
