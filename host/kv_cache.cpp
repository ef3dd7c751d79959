// kv_cache.cpp — the paged KV cache object: option checks, per-layer device buffers, the free list of
// physical pages, per-sequence page lists (KvCache methods) and Context::create_kv_cache.
#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "host/kv_cache_state.hpp"
#include "host/device_call.hpp"

namespace lowbit {

namespace {

[[noreturn]] void bad(const std::string& s) { throw Error(ErrorCode::InvalidArgument, s); }

constexpr int kHeadDims[] = {64, 80, 96, 128, 256};

void check_fp8_scales(const std::vector<float>& s, int kv_heads, const char* name) {
  if (s.size() != 1 && s.size() != size_t(kv_heads))
    bad(std::string("KV cache: ") + name + " has " + std::to_string(s.size()) +
        " entries; an FP8 cache takes one per tensor (1) or one per kv head (" + std::to_string(kv_heads) + ")");
  for (float x : s)
    if (!std::isfinite(x) || x <= 0.0f)
      bad(std::string("KV cache: ") + name + " entries must be finite and > 0, got " + std::to_string(x));
}

void check_options(const KvCacheOptions& o) {
  if (o.layers < 1) bad("KV cache: layers must be >= 1, got " + std::to_string(o.layers));
  if (o.num_pages < 1) bad("KV cache: num_pages must be >= 1, got " + std::to_string(o.num_pages));
  if (o.page_size < 1) bad("KV cache: page_size must be > 0, got " + std::to_string(o.page_size));
  if (o.kv_heads < 1) bad("KV cache: kv_heads must be >= 1, got " + std::to_string(o.kv_heads));
  if (std::find(std::begin(kHeadDims), std::end(kHeadDims), o.head_dim) == std::end(kHeadDims))
    bad("KV cache: head dim " + std::to_string(o.head_dim) + " is not supported (supported: 64, 80, 96, 128, 256)");
  if (int64_t(o.num_pages) * o.page_size > INT32_MAX)
    bad("KV cache: num_pages * page_size = " + std::to_string(int64_t(o.num_pages) * o.page_size) +
        " slots exceeds the 2^31 - 1 a slot index can address");
  if (o.format == KvFormat::E4M3 || o.format == KvFormat::E5M2) {
    check_fp8_scales(o.k_scale, o.kv_heads, "k_scale");
    check_fp8_scales(o.v_scale, o.kv_heads, "v_scale");
  }
}

detail::KvCacheState& need(const std::shared_ptr<detail::KvCacheState>& s) {
  if (!s) bad("KV cache: empty KvCache (make one with Context::create_kv_cache)");
  return *s;
}

}  // namespace

const char* to_string(KvFormat f) {
  switch (f) {
    case KvFormat::F16: return "fp16";
    case KvFormat::Int8: return "int8";
    case KvFormat::Int4: return "int4";
    case KvFormat::E4M3: return "e4m3";
    case KvFormat::E5M2: return "e5m2";
  }
  return "?";
}

KvFormat parse_kv_format(const std::string& s) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "fp16" || l == "f16" || l == "float16") return KvFormat::F16;
  if (l == "int8") return KvFormat::Int8;
  if (l == "int4") return KvFormat::Int4;
  if (l == "e4m3" || l == "fp8_e4m3") return KvFormat::E4M3;
  if (l == "e5m2" || l == "fp8_e5m2") return KvFormat::E5M2;
  bad("unknown KV format '" + s + "' (expected fp16, int8, int4, e4m3 or e5m2)");
}

namespace detail {

int KvCacheState::row_bytes() const {
  switch (opts.format) {
    case KvFormat::F16: return 2 * opts.head_dim;
    case KvFormat::Int4: return opts.head_dim / 2;
    default: return opts.head_dim;
  }
}

KvSequence& KvCacheState::seq(int id) {
  return const_cast<KvSequence&>(static_cast<const KvCacheState*>(this)->seq(id));
}

const KvSequence& KvCacheState::seq(int id) const {
  if (id < 0 || size_t(id) >= seqs.size() || !seqs[size_t(id)].live)
    bad("KV cache: unknown sequence id " + std::to_string(id));
  return seqs[size_t(id)];
}

KvLayerArgs KvCacheState::layer_args(int layer) const {
  if (layer < 0 || layer >= opts.layers)
    bad("KV cache: layer " + std::to_string(layer) + " out of range (the cache has " + std::to_string(opts.layers) +
        " layers)");
  const KvLayerBuffers& l = layers[size_t(layer)];
  KvLayerArgs a;
  a.format = int(opts.format);
  a.num_pages = uint32_t(opts.num_pages);
  a.page_size = uint32_t(opts.page_size);
  a.kv_heads = uint32_t(opts.kv_heads);
  a.head_dim = uint32_t(opts.head_dim);
  bool fp8 = opts.format == KvFormat::E4M3 || opts.format == KvFormat::E5M2;
  a.fp8_per_head = fp8 && opts.k_scale.size() != 1;
  auto mem = [](const Buffer& b) { return b.valid() ? b.mem().get() : nullptr; };
  a.k = mem(l.k), a.v = mem(l.v);
  a.k_scale = mem(l.k_scale), a.k_zero = mem(l.k_zero);
  a.v_scale = mem(l.v_scale), a.v_zero = mem(l.v_zero);
  return a;
}

}  // namespace detail

// ---- KvCache ------------------------------------------------------------------------------------

const KvCacheOptions& KvCache::options() const { return need(s_).opts; }

int KvCache::add_sequence() {
  auto& s = need(s_);
  s.seqs.push_back({true, 0, {}});
  return int(s.seqs.size() - 1);
}

void KvCache::free_sequence(int id) {
  auto& s = need(s_);
  auto& q = s.seq(id);
  // Pushed in reverse so the next extend() takes them back in their logical order (LIFO reuse).
  for (auto it = q.pages.rbegin(); it != q.pages.rend(); ++it) s.free_list.push_back(*it);
  q = {};
}

int KvCache::length(int id) const { return need(s_).seq(id).length; }

int KvCache::free_pages() const { return int(need(s_).free_list.size()); }

const std::vector<int32_t>& KvCache::pages(int id) const { return need(s_).seq(id).pages; }

void KvCache::scatter_free_pages(uint32_t seed) {
  auto& s = need(s_);
  std::mt19937 rng(seed);
  std::shuffle(s.free_list.begin(), s.free_list.end(), rng);
}

void KvCache::extend(std::span<const int> seqs, std::span<const int> counts) {
  auto& s = need(s_);
  if (seqs.size() != counts.size())
    bad("KV cache extend: " + std::to_string(seqs.size()) + " sequences but " + std::to_string(counts.size()) +
        " counts");
  const int64_t P = s.opts.page_size;
  std::set<int> seen;
  size_t needed = 0;
  // Check everything first: extend() either grows every sequence or none.
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& q = s.seq(seqs[i]);
    if (!seen.insert(seqs[i]).second) bad("KV cache extend: sequence " + std::to_string(seqs[i]) + " listed twice");
    if (counts[i] < 0) bad("KV cache extend: negative count " + std::to_string(counts[i]));
    int64_t len = int64_t(q.length) + counts[i];
    if (len > int64_t(s.opts.num_pages) * P)
      throw Error(ErrorCode::OutOfMemory, "KV cache: sequence " + std::to_string(seqs[i]) + " of " +
                                              std::to_string(len) + " tokens does not fit in a cache of " +
                                              std::to_string(s.opts.num_pages) + " pages of " + std::to_string(P));
    size_t more = size_t((len + P - 1) / P) - q.pages.size();
    if (needed + more > s.free_list.size())
      throw Error(ErrorCode::OutOfMemory,
                  "KV cache: no free page left for sequence " + std::to_string(seqs[i]) + " (it needs " +
                      std::to_string(more) + " more pages; " + std::to_string(s.free_list.size() - needed) + " of " +
                      std::to_string(s.opts.num_pages) + " are free)");
    needed += more;
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    auto& q = s.seq(seqs[i]);
    q.length += counts[i];
    while (int64_t(q.pages.size()) * P < q.length) {
      q.pages.push_back(s.free_list.back());
      s.free_list.pop_back();
    }
  }
}

// ---- Context::create_kv_cache ---------------------------------------------------------------------

KvCache Context::create_kv_cache(const KvCacheOptions& o) {
  detail::DeviceCall call(*dev_);
  check_options(o);
  auto st = std::make_shared<detail::KvCacheState>();
  st->opts = o;
  st->owner = dev_.get();
  // One fp8_per_head flag covers K and V: a per-tensor scale next to a per-head one is repeated per head.
  auto& ks = st->opts.k_scale;
  auto& vs = st->opts.v_scale;
  if (ks.size() != vs.size() && (o.format == KvFormat::E4M3 || o.format == KvFormat::E5M2)) {
    if (ks.size() == 1) ks.assign(size_t(o.kv_heads), ks[0]);
    if (vs.size() == 1) vs.assign(size_t(o.kv_heads), vs[0]);
  }
  const int64_t rows = int64_t(o.num_pages) * o.page_size * o.kv_heads;  // (token, head) rows per layer
  const int64_t code_bytes = rows * st->row_bytes();
  if (uint64_t(code_bytes) > dev_->info().max_buffer_range)
    throw Error(ErrorCode::OutOfMemory, "KV cache: one layer's K codes take " + std::to_string(code_bytes) +
                                            " bytes, more than the " + std::to_string(dev_->info().max_buffer_range) +
                                            " one buffer may span on " + dev_->info().name + "; use fewer pages");
  const Shape code_shape{o.num_pages, o.page_size, o.kv_heads, st->row_bytes()};
  const Shape row_shape{o.num_pages, o.page_size, o.kv_heads};
  for (int l = 0; l < o.layers; ++l) {
    detail::KvLayerBuffers b;
    b.k = alloc(DType::U8, code_shape);
    b.v = alloc(DType::U8, code_shape);
    if (o.format == KvFormat::Int8 || o.format == KvFormat::Int4) {
      b.k_scale = alloc(DType::F16, row_shape);
      b.k_zero = alloc(DType::F16, row_shape);
      b.v_scale = alloc(DType::F16, row_shape);
      b.v_zero = alloc(DType::F16, row_shape);
    } else if (o.format == KvFormat::E4M3 || o.format == KvFormat::E5M2) {
      b.k_scale = upload(DType::F32, {int64_t(st->opts.k_scale.size())}, st->opts.k_scale.data(), st->opts.k_scale.size() * 4);
      b.v_scale = upload(DType::F32, {int64_t(st->opts.v_scale.size())}, st->opts.v_scale.data(), st->opts.v_scale.size() * 4);
    }
    st->layers.push_back(std::move(b));
  }
  // Pages are handed out from the back: 0, 1, 2, ... until scatter_free_pages() shuffles them.
  st->free_list.resize(size_t(o.num_pages));
  for (int i = 0; i < o.num_pages; ++i) st->free_list[size_t(i)] = o.num_pages - 1 - i;
  KvCache c;
  c.s_ = std::move(st);
  return c;
}

}  // namespace lowbit
