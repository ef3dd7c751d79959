// ops_attention.cpp — Context::kv_append and Context::attention: argument checks, slots / block
// tables / sequence lengths built from the cache's page lists (validated before upload), then the
// device op (semantics: lowbit/attention.hpp).
#include <algorithm>
#include <cmath>
#include <set>

#include "backend/deterministic.hpp"
#include "host/device_call.hpp"
#include "host/internal_access.hpp"
#include "autotune/tuning_state.hpp"
#include "backend/attention_plan.hpp"

namespace lowbit {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, s); }

detail::KvCacheState& cache_state(KvCache& c, const detail::Device* dev, const char* op) {
  detail::KvCacheState& s = detail::kv_state(c);  // dereferences: check validity first
  if (s.owner != dev) bad(std::string(op) + ": the KV cache belongs to another context");
  return s;
}

void expect_rows(const Buffer& b, int64_t rows, int64_t heads, int64_t d, const char* op, const char* name) {
  Shape want{rows, heads, d};
  if (!b.valid()) bad(std::string(op) + ": " + name + " is missing");
  if (b.dtype() != DType::F16 || b.shape() != want)
    bad(std::string(op) + ": " + name + " must be float16 " + shape_str(want) + ", got " + to_string(b.dtype()) + " " +
        shape_str(b.shape()));
}

// Physical page of logical page `i` of a sequence, checked against the cache (the host owns the page
// lists, so a failure here is a library bug, reported rather than handed to a kernel).
int32_t checked_page(const detail::KvCacheState& s, const detail::KvSequence& q, int id, size_t i) {
  if (i >= q.pages.size())
    throw Error(ErrorCode::Internal, "KV cache: sequence " + std::to_string(id) + " of " + std::to_string(q.length) +
                                         " tokens is longer than its " + std::to_string(q.pages.size()) + " pages");
  int32_t p = q.pages[i];
  if (p < 0 || p >= s.opts.num_pages)
    throw Error(ErrorCode::Internal, "KV cache: block table of sequence " + std::to_string(id) + " points to page " +
                                         std::to_string(p) + ", outside the cache's " +
                                         std::to_string(s.opts.num_pages) + " pages");
  return p;
}

}  // namespace

void Context::kv_append(KvCache& c, int layer, std::span<const int> seqs, std::span<const int> counts,
                        const Buffer& k, const Buffer& v) {
  detail::DeviceCall call(*dev_);
  if (!c.s_) bad("kv_append: empty KvCache (make one with Context::create_kv_cache)");
  auto& s = cache_state(c, dev_.get(), "kv_append");
  detail::KvAppendArgs a;
  a.kv = s.layer_args(layer);
  if (seqs.size() != counts.size())
    bad("kv_append: " + std::to_string(seqs.size()) + " sequences but " + std::to_string(counts.size()) + " counts");
  std::set<int> seen;
  int64_t total = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& q = s.seq(seqs[i]);
    if (!seen.insert(seqs[i]).second) bad("kv_append: sequence " + std::to_string(seqs[i]) + " listed twice");
    if (counts[i] < 0 || counts[i] > q.length)
      bad("kv_append: sequence " + std::to_string(seqs[i]) + " holds " + std::to_string(q.length) +
          " tokens, cannot write its last " + std::to_string(counts[i]) + " (call KvCache::extend first)");
    total += counts[i];
  }
  const int64_t H = s.opts.kv_heads, D = s.opts.head_dim, P = s.opts.page_size;
  expect_rows(k, total, H, D, "kv_append", "k");
  expect_rows(v, total, H, D, "kv_append", "v");
  if (total == 0) return;
  std::vector<int32_t> slots;
  slots.reserve(size_t(total));
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& q = s.seq(seqs[i]);
    for (int64_t pos = q.length - counts[i]; pos < q.length; ++pos)
      slots.push_back(int32_t(checked_page(s, q, seqs[i], size_t(pos / P)) * P + pos % P));
  }
  Buffer sb = upload(DType::I32, {total}, slots.data(), slots.size() * 4);
  a.k_new = k.mem().get();
  a.v_new = v.mem().get();
  a.slots = sb.mem().get();
  a.tokens = uint64_t(total);
  a.config = detail::choose_config(*dev_, "kv_append", std::string(to_string(s.opts.format)) + " hkv" + std::to_string(H) + " d" + std::to_string(D),
                                   {.m = total, .n = 0, .k = 0, .words = detail::attn::kv_append_max_lanes(uint32_t(D))})
                 .config;
  dev_->kv_append(a);
}

Buffer Context::attention(const Buffer& q, KvCache& c, int layer, std::span<const int> seqs,
                          std::span<const int> q_counts, const AttentionOptions& o) {
  detail::DeviceCall call(*dev_);
  if (!c.s_) bad("attention: empty KvCache (make one with Context::create_kv_cache)");
  auto& s = cache_state(c, dev_.get(), "attention");
  detail::AttentionArgs a;
  a.kv = s.layer_args(layer);
  const int64_t Hkv = s.opts.kv_heads, D = s.opts.head_dim, P = s.opts.page_size;
  if (!q.valid() || q.dtype() != DType::F16 || q.shape().size() != 3)
    bad("attention: q must be float16 [tokens, H_q, D], got " +
        (q.valid() ? std::string(to_string(q.dtype())) + " " + shape_str(q.shape()) : std::string("nothing")));
  const int64_t Hq = q.shape()[1];
  if (q.shape()[2] != D)
    bad("attention: q has head dim " + std::to_string(q.shape()[2]) + " but the KV cache holds D = " +
        std::to_string(D));
  if (Hq < 1 || Hq % Hkv != 0)
    bad("attention: head counts are incompatible: H_q = " + std::to_string(Hq) + " is not a positive multiple of H_kv = " +
        std::to_string(Hkv));
  if (seqs.empty()) bad("attention: no sequences given");
  if (seqs.size() != q_counts.size())
    bad("attention: " + std::to_string(seqs.size()) + " sequences but " + std::to_string(q_counts.size()) +
        " query counts");
  if (o.window < 0) bad("attention: window must be >= 0, got " + std::to_string(o.window));
  if (!std::isfinite(o.softcap) || o.softcap < 0.0f)
    bad("attention: softcap must be finite and >= 0, got " + std::to_string(o.softcap));
  if (o.scale && !std::isfinite(*o.scale)) bad("attention: scale must be finite, got " + std::to_string(*o.scale));
  if (o.split_pages < 0) bad("attention: split_pages must be >= 0, got " + std::to_string(o.split_pages));

  const size_t B = seqs.size();
  std::vector<int32_t> q_start(B + 1, 0), lens(B);
  int64_t max_blocks = 1, max_q = 0, max_kv = 0;
  bool decode = true;
  for (size_t i = 0; i < B; ++i) {
    const auto& sq = s.seq(seqs[i]);
    if (q_counts[i] < 1) bad("attention: sequence " + std::to_string(seqs[i]) + " has no queries");
    if (q_counts[i] > sq.length)
      bad("attention: sequence " + std::to_string(seqs[i]) + " has " + std::to_string(q_counts[i]) +
          " queries but only " + std::to_string(sq.length) +
          " cached tokens (queries are the last tokens of the sequence: append their K/V first)");
    q_start[i + 1] = q_start[i] + q_counts[i];
    lens[i] = sq.length;
    decode = decode && q_counts[i] == 1;
    max_blocks = std::max<int64_t>(max_blocks, (sq.length + P - 1) / P);
    max_q = std::max<int64_t>(max_q, q_counts[i]);
    max_kv = std::max<int64_t>(max_kv, sq.length);
  }
  const int64_t total = q_start[B];
  if (q.shape()[0] != total)
    bad("attention: q has " + std::to_string(q.shape()[0]) + " tokens but the query counts add up to " +
        std::to_string(total));
  // Block table [B, max_blocks]; unused entries point at page 0 so a stray read stays inside the cache.
  std::vector<int32_t> table(B * size_t(max_blocks), 0);
  for (size_t i = 0; i < B; ++i) {
    const auto& sq = s.seq(seqs[i]);
    for (int64_t j = 0; j < (sq.length + P - 1) / P; ++j)
      table[i * size_t(max_blocks) + size_t(j)] = checked_page(s, sq, seqs[i], size_t(j));
  }
  Buffer qs = upload(DType::I32, {int64_t(B + 1)}, q_start.data(), q_start.size() * 4);
  Buffer bt = upload(DType::I32, {int64_t(B), max_blocks}, table.data(), table.size() * 4);
  Buffer sl = upload(DType::I32, {int64_t(B)}, lens.data(), lens.size() * 4);
  Buffer out = alloc(o.out_f32 ? DType::F32 : DType::F16, {total, Hq, D});
  a.q = q.mem().get();
  a.q_start = qs.mem().get();
  a.block_table = bt.mem().get();
  a.seq_lens = sl.mem().get();
  a.out = out.mem().get();
  a.out_f32 = o.out_f32;
  a.batch = uint32_t(B);
  a.q_heads = uint32_t(Hq);
  a.max_blocks = uint32_t(max_blocks);
  a.total_q = uint32_t(total);
  a.max_q = uint32_t(max_q);
  a.max_kv = uint32_t(max_kv);
  a.decode = decode;
  a.causal = o.causal || o.window > 0;
  a.window = o.window;
  a.softcap = o.softcap;
  a.scale = o.scale ? *o.scale : 1.0f / std::sqrt(float(D));
  a.split_pages = o.split_pages;
  if (dev_->deterministic()) {  // decode splits by context length alone (backend/deterministic.hpp)
    const int fixed = detail::deterministic_split_pages(uint32_t(P));
    if (o.split_pages != 0 && o.split_pages != fixed)
      bad("attention: deterministic mode splits decode every " + std::to_string(fixed) + " pages; split_pages = " +
          std::to_string(o.split_pages) + " was asked");
    a.split_pages = fixed;
  } else {  // the tuned launch: decode keys per step and pages per split, prefill query / key tiles
    // (deterministic mode keeps the defaults: a tuned one would change the summation order)
    const std::string format = std::string(to_string(s.opts.format)) + " hq" + std::to_string(Hq) + " hkv" +
                               std::to_string(Hkv) + " d" + std::to_string(D) + " p" + std::to_string(P);
    if (decode) {
      a.config = detail::choose_config(*dev_, "attention_decode", format,
                                       {.m = int64_t(B), .n = 0, .k = tune::m_bucket(max_kv), .page_size = uint32_t(P)})
                     .config;
      if (a.split_pages == 0) a.split_pages = a.config.split;
    } else {
      a.config = detail::choose_config(*dev_, "attention_prefill", format,
                                       {.m = total, .n = 0, .k = tune::m_bucket(max_kv), .page_size = uint32_t(P),
                                        .head_dim = uint32_t(D)})
                     .config;
    }
  }
  dev_->attention(a);
  return out;
}

std::string Context::last_attention_kernel() const {
  detail::DeviceCall call(*dev_);
  return dev_->last_attention_kernel();
}

}  // namespace lowbit
