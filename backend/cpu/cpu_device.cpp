// cpu_device.cpp — the CPU backend: host-memory buffers and the reference ops, run synchronously
// (timing is wall-clock time of the ops).
#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <thread>

#include <unistd.h>

#include "backend/cpu/act_quant_ref.hpp"
#include "backend/cpu/attention_ref.hpp"
#include "backend/cpu/convert_ref.hpp"
#include "backend/cpu/gemm_ref.hpp"
#include "backend/cpu/parallel.hpp"
#include "backend/device.hpp"
#include "backend/memory_budget.hpp"
#include "lowbit_formats.h"

namespace lowbit::detail {

namespace {

struct CpuBuffer : DeviceBuffer {
  CpuBuffer(size_t bytes, const std::shared_ptr<MemoryBudget>& budget) {
    size = bytes;
    const size_t cap = std::max<size_t>(64, (bytes + 63) / 64 * 64);
    charge = BudgetCharge(budget, cap);
    data = static_cast<uint8_t*>(std::aligned_alloc(64, cap));
    if (!data) throw budget->out_of_memory(cap, "aligned_alloc failed");
    std::memset(data, 0, cap);
  }
  ~CpuBuffer() override { std::free(data); }
  BudgetCharge charge;
  uint8_t* data = nullptr;
};

uint8_t* ptr(const DeviceBuffer* b) { return b ? static_cast<const CpuBuffer*>(b)->data : nullptr; }

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  return "host CPU";
}

uint64_t physical_memory_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : uint64_t(1) << 32;
}

DeviceInfo cpu_info() {
  DeviceInfo i;
  i.backend = Backend::CPU;
  i.index = 0;
  i.name = cpu_name();
  i.type = "cpu";
  i.vendor = "host";
  i.driver_version = "lowbit reference";
  i.api_version = "C++20";
  i.subgroup_size = 1;
  i.shared_memory_bytes = 0;
  i.max_workgroup_size = std::max(1u, std::thread::hardware_concurrency());
  i.max_buffer_range = physical_memory_bytes();  // a host buffer can be no larger than the RAM
  i.fp16 = false;
  i.int8 = true;
  return i;
}

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(const ContextOptions& o)
      : info_(cpu_info()), budget_(std::make_shared<MemoryBudget>("cpu device '" + info_.name + "'", o.device_memory_limit)) {}
  const DeviceInfo& info() const override { return info_; }

  std::shared_ptr<DeviceBuffer> alloc(size_t bytes) override { return std::make_shared<CpuBuffer>(bytes, budget_); }
  DeviceStats stats() const override {
    DeviceStats s;
    s.memory_bytes = budget_->live_bytes();
    s.memory_buffers = budget_->live_allocations();
    return s;
  }
  void write(DeviceBuffer& b, size_t off, const void* src, size_t bytes) override {
    std::memcpy(ptr(&b) + off, src, bytes);
  }
  void read(const DeviceBuffer& b, size_t off, void* dst, size_t bytes) override {
    std::memcpy(dst, ptr(&b) + off, bytes);
  }
  void submit() override {}
  void wait() override {}
  void reset_timing() override { ms_ = 0; }
  double device_ms() override { return ms_; }

  void quantize(const QuantizeArgs& a) override {
    timed([&] {
      HostQuantize h{a.fmt, a.src_elem, ptr(a.src), ptr(a.codes), ptr(a.scales), a.rows, a.cols, a.saturate, a.packed, 0};
      if (a.fmt->tensor_scale) {
        h.tensor_scale_bits = a.tensor_scale_given ? a.tensor_scale_bits
                                                   : nvfp4_tensor_scale_of(h.src, a.src_elem, a.rows * a.cols);
        std::memcpy(ptr(a.tensor_scale), &h.tensor_scale_bits, 4);
      }
      parallel_for(a.rows, grain(a.cols), [&](uint64_t r0, uint64_t r1) { quantize_rows(h, r0, r1); });
    });
  }
  void dequantize(const DequantizeArgs& a) override {
    timed([&] {
      HostDequantize h{a.fmt, a.out_elem, ptr(a.codes), ptr(a.scales), 0, ptr(a.dst), a.rows, a.cols, a.packed};
      if (a.fmt->tensor_scale) std::memcpy(&h.tensor_scale_bits, ptr(a.tensor_scale), 4);
      parallel_for(a.rows, grain(a.cols), [&](uint64_t r0, uint64_t r1) { dequantize_rows(h, r0, r1); });
    });
  }

  void gemm(const GemmArgs& a) override {
    timed([&] {
      HostGemm h{a.w4, static_cast<const uint16_t*>(static_cast<const void*>(ptr(a.x))), ptr(a.w),
                 reinterpret_cast<const uint16_t*>(ptr(a.scales)), ptr(a.zeros),
                 ptr(a.bias), ptr(a.y), a.out_elem, a.m, a.n, a.k, a.group, a.bias_f32};
      parallel_for(a.n, 16, [&](uint64_t n0, uint64_t n1) { gemm_columns(h, n0, n1); });
    });
    // One thread per column chunk, each a serial K loop (the stages asked for are recorded as given).
    last_launch_ = {"cpu_reference", std::max<uint64_t>(1, parallel_chunks(a.n, 16)), 1, 0,
                    uint32_t(a.stages ? a.stages : 1), 1};
  }
  void gemm_w4a8(const GemmW4A8Args& a) override {
    timed([&] {
      HostGemmW4A8 h{reinterpret_cast<const int8_t*>(ptr(a.a)), reinterpret_cast<const float*>(ptr(a.a_scale)),
                     reinterpret_cast<const uint32_t*>(ptr(a.qweight)), reinterpret_cast<const uint16_t*>(ptr(a.s1)),
                     ptr(a.s2), ptr(a.zeros), ptr(a.bias), ptr(a.y), a.out_elem, a.m, a.n, a.k, a.group, a.bias_f32};
      parallel_for(a.n, 16, [&](uint64_t n0, uint64_t n1) { gemm_w4a8_columns(h, n0, n1); });
    });
    last_launch_ = {"cpu_reference_w4a8", std::max<uint64_t>(1, parallel_chunks(a.n, 16)), 1, 0, 1, 1};
  }
  void quantize_activations_int8(const ActQuantArgs& a) override {
    timed([&] {
      HostActQuant h{ptr(a.x), a.x_elem == LB_FMT_F32, ptr(a.rms_weight), a.rms_weight_elem == LB_FMT_F32,
                     std::bit_cast<uint32_t>(a.eps), reinterpret_cast<int8_t*>(ptr(a.codes)),
                     reinterpret_cast<uint32_t*>(ptr(a.scales)), reinterpret_cast<int32_t*>(ptr(a.sums)), a.m, a.k};
      parallel_for(a.m, grain(a.k), [&](uint64_t r0, uint64_t r1) { act_quant_rows(h, r0, r1); });
    });
  }
  void gather_columns(const GatherArgs& a) override {
    timed([&] {
      auto* x = reinterpret_cast<const uint16_t*>(ptr(a.x));
      auto* perm = reinterpret_cast<const int32_t*>(ptr(a.perm));
      auto* out = reinterpret_cast<uint16_t*>(ptr(a.out));
      for (uint64_t m = 0; m < a.m; ++m)
        for (uint64_t j = 0; j < a.k; ++j) out[m * a.k + j] = x[m * a.k + uint64_t(perm[j])];
    });
  }
  void kv_append(const KvAppendArgs& a) override {
    timed([&] {
      HostKvLayer kv = host_kv(a.kv);
      auto* k = reinterpret_cast<const uint16_t*>(ptr(a.k_new));
      auto* v = reinterpret_cast<const uint16_t*>(ptr(a.v_new));
      auto* slots = reinterpret_cast<const int32_t*>(ptr(a.slots));
      parallel_for(a.tokens, grain(2ull * kv.kv_heads * kv.head_dim),
                   [&](uint64_t t0, uint64_t t1) { kv_append_tokens(kv, k, v, slots, t0, t1); });
    });
  }
  void attention(const AttentionArgs& a) override {
    timed([&] {
      HostAttention h;
      h.kv = host_kv(a.kv);
      h.q = reinterpret_cast<const uint16_t*>(ptr(a.q));
      h.q_start = reinterpret_cast<const int32_t*>(ptr(a.q_start));
      h.block_table = reinterpret_cast<const int32_t*>(ptr(a.block_table));
      h.seq_lens = reinterpret_cast<const int32_t*>(ptr(a.seq_lens));
      h.out = ptr(a.out);
      h.out_f32 = a.out_f32;
      h.batch = a.batch, h.q_heads = a.q_heads, h.max_blocks = a.max_blocks;
      h.causal = a.causal, h.window = a.window, h.softcap = a.softcap, h.scale = a.scale;
      // One item per (sequence, kv head): its keys are dequantized once for the whole q-head group.
      parallel_for(uint64_t(a.batch) * a.kv.kv_heads, 1,
                   [&](uint64_t i0, uint64_t i1) { attention_items(h, i0, i1); });
    });
  }
  void copy(const CopyArgs& a) override {
    timed([&] {
      const uint8_t* src = ptr(a.src);
      uint8_t* dst = ptr(a.dst);
      parallel_for(a.bytes, uint64_t(1) << 20, [&](uint64_t b0, uint64_t b1) { std::memcpy(dst + b0, src + b0, b1 - b0); });
    });
  }

 private:
  static HostKvLayer host_kv(const KvLayerArgs& k) {
    HostKvLayer h;
    h.format = k.format;
    h.num_pages = k.num_pages, h.page_size = k.page_size, h.kv_heads = k.kv_heads, h.head_dim = k.head_dim;
    h.fp8_per_head = k.fp8_per_head;
    h.k = ptr(k.k), h.v = ptr(k.v);
    const bool fp8 = k.format == 3 || k.format == 4;  // KvFormat::E4M3 / E5M2
    auto u16 = [](const DeviceBuffer* b) { return reinterpret_cast<uint16_t*>(ptr(b)); };
    auto f32 = [](const DeviceBuffer* b) { return reinterpret_cast<const float*>(ptr(b)); };
    if (fp8) {
      h.k_scale32 = f32(k.k_scale), h.v_scale32 = f32(k.v_scale);
    } else {
      h.k_scale16 = u16(k.k_scale), h.k_zero16 = u16(k.k_zero), h.v_scale16 = u16(k.v_scale), h.v_zero16 = u16(k.v_zero);
    }
    return h;
  }
  static uint64_t grain(uint64_t cols) { return std::max<uint64_t>(1, 65536 / std::max<uint64_t>(cols, 1)); }
  template <class F>
  void timed(F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  DeviceInfo info_;
  std::shared_ptr<MemoryBudget> budget_;
  double ms_ = 0;
};

}  // namespace

std::shared_ptr<Device> create_cpu_device(const ContextOptions& o) {
  if (!o.device.empty() && o.device != "0" && o.device != "cpu") select_device({cpu_info().name}, o.device, Backend::CPU);
  return std::make_shared<CpuDevice>(o);
}

BackendReport probe_cpu() {
  BackendReport r{Backend::CPU, true, "", {cpu_info()}};
  return r;
}

}  // namespace lowbit::detail
