// vk_prefill_check.cpp — the KHR cooperative-matrix prefill against the scalar prefill on one small problem.
#include "backend/vulkan/vk_prefill_check.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "backend/attention_plan.hpp"
#include "backend/vulkan/vk_first_use.hpp"
#include "host/log.hpp"

namespace lowbit::detail::vk {

namespace {

// Random cache codes of `bytes` bytes in `format`: fp16 values in ±[0.125, 0.44), any int8 / int4 code,
// FP8 codes with the top exponent bit clear (|v| < 2: no NaN or infinity).
std::vector<uint8_t> random_codes(std::mt19937& rng, int format, size_t bytes) {
  std::vector<uint8_t> c(bytes);
  if (format == 0) {
    const std::vector<uint16_t> h = random_halves(rng, bytes / 2, 0x3000);
    std::copy_n(reinterpret_cast<const uint8_t*>(h.data()), bytes, c.data());
    return c;
  }
  std::uniform_int_distribution<uint32_t> bits;
  for (auto& b : c) b = uint8_t(bits(rng)) & (attn::kv_fp8_format(format) ? 0xBF : 0xFF);
  return c;
}

}  // namespace

bool prefill_coopmat_agrees(Device& dev, AttentionKernels& kernels, int format, uint32_t d) {
  std::mt19937 rng(11);
  // Two sequences: 21 new queries after 16 cached keys, and a 90-token prefill; 6 query heads on 2 kv heads
  // (a workgroup's rows straddle queries), pages of 16 in shuffled order.
  const uint32_t page = 16, kv_heads = 2, q_heads = 6, pages = 3 + 6, max_blocks = 6;
  const std::vector<int> q_start = {0, 21, 111}, seq_lens = {37, 90};
  std::vector<int> order(pages), table(2 * max_blocks, 0);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::copy_n(order.begin(), 3, table.begin());
  std::copy_n(order.begin() + 3, 6, table.begin() + max_blocks);
  const size_t rows = size_t(pages) * page * kv_heads;
  const size_t row_bytes = size_t(d) * 4 / attn::elems_per_word(format);
  const bool ints = attn::kv_int_format(format), fp8 = attn::kv_fp8_format(format);

  auto k_codes = random_codes(rng, format, rows * row_bytes), v_codes = random_codes(rng, format, rows * row_bytes);
  auto scales = random_halves(rng, 2 * rows, 0x2000), zeros = random_halves(rng, 2 * rows, 0x3000);
  for (auto& s : scales) s &= 0x7FFF;  // positive
  const float fp8_scale = 0.5f;
  const auto q = random_halves(rng, size_t(q_start.back()) * q_heads * d, 0x3800);
  auto kb = upload(dev, k_codes.data(), k_codes.size()), vb = upload(dev, v_codes.data(), v_codes.size());
  auto ksb = upload(dev, fp8 ? static_cast<const void*>(&fp8_scale) : scales.data(), fp8 ? 4 : rows * 2);
  auto vsb = upload(dev, fp8 ? static_cast<const void*>(&fp8_scale) : scales.data() + rows, fp8 ? 4 : rows * 2);
  auto kzb = upload(dev, zeros.data(), rows * 2), vzb = upload(dev, zeros.data() + rows, rows * 2);
  auto qb = upload(dev, q.data(), q.size() * 2), qsb = upload(dev, q_start.data(), q_start.size() * 4);
  auto tb = upload(dev, table.data(), table.size() * 4), lb = upload(dev, seq_lens.data(), seq_lens.size() * 4);
  const size_t outs = q.size();
  auto out = dev.alloc(outs * 4);

  AttentionArgs a;
  a.kv = {format, pages, page, kv_heads, d, false, kb.get(), vb.get(), ints || fp8 ? ksb.get() : nullptr,
          ints ? kzb.get() : nullptr, ints || fp8 ? vsb.get() : nullptr, ints ? vzb.get() : nullptr};
  a.q = qb.get(), a.q_start = qsb.get(), a.block_table = tb.get(), a.seq_lens = lb.get(), a.out = out.get();
  a.batch = 2, a.q_heads = q_heads, a.max_blocks = max_blocks, a.total_q = uint32_t(q_start.back());
  a.max_q = 90, a.max_kv = 90, a.scale = 0.125f;
  struct Mask { bool causal; int window; float softcap; const char* name; };
  for (const Mask& m : {Mask{true, 0, 0.0f, "causal"}, Mask{false, 0, 20.0f, "bidirectional, softcap"},
                        Mask{true, 19, 0.0f, "window 19"}}) {
    a.causal = m.causal, a.window = m.window, a.softcap = m.softcap;
    kernels.use_prefill_coopmat(false);
    kernels.attention(a);
    const std::vector<float> scalar = download_f32(dev, *out, outs);
    kernels.use_prefill_coopmat(true);
    kernels.attention(a);
    const bool ran = kernels.last_kernel() == "attention_prefill_coopmat_khr";
    kernels.use_prefill_coopmat(false);
    const std::vector<float> coop = download_f32(dev, *out, outs);
    float diff = 0, peak = 0;
    if (!ran || !agrees(coop, scalar, diff, peak)) {
      log().warn("vulkan: the KHR cooperative-matrix prefill (KV format {}, head dim {}, {}) disagrees with the scalar "
                 "prefill on {} (max diff {} of {}); not using it", format, d, m.name, dev.info().name, diff, peak);
      return false;
    }
  }
  log().info("vulkan: KHR cooperative-matrix prefill verified on {} (KV format {}, head dim {})", dev.info().name,
             format, d);
  return true;
}

}  // namespace lowbit::detail::vk
