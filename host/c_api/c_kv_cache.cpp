// c_kv_cache.cpp — C API: the paged KV cache (create, sequences, extend, pages), kv_append and attention.
#include <algorithm>

#include "host/c_api/c_boundary.hpp"

using namespace lowbit;
using namespace lowbit::c_api;

namespace {

// FP8 scales of the options: NULL / 0 keeps the default {1.0}.
void take_scales(std::vector<float>& dst, const float* s, size_t count, const char* fn, const char* name) {
  if (!count) return;
  if (!s) invalid(fn, std::string(name) + " is NULL with count " + std::to_string(count));
  dst.assign(s, s + count);
}

AttentionOptions attention_options(const lowbit_attention_options* o) {
  AttentionOptions a;
  if (!o) return a;
  a.causal = o->causal;
  a.window = o->window;
  a.softcap = o->softcap;
  if (o->has_scale) a.scale = o->scale;
  a.out_f32 = o->out_f32;
  a.split_pages = o->split_pages;
  return a;
}

template <class C>  // lowbit_kv_cache or const lowbit_kv_cache
C& need_cache(const Context& ctx, C* c, const char* fn) {
  same_context(ctx, need(c, fn, "cache").owner, fn, "cache");
  return *c;
}

}  // namespace

extern "C" {

lowbit_status lowbit_kv_cache_options_init(lowbit_kv_cache_options* o) {
  return guarded(__func__, [&](const char* fn) {
    KvCacheOptions d;
    lowbit_kv_cache_options c{};
    c.layers = d.layers;
    c.num_pages = d.num_pages;
    c.page_size = d.page_size;
    c.kv_heads = d.kv_heads;
    c.head_dim = d.head_dim;
    c.format = static_cast<lowbit_kv_format>(d.format);
    need(o, fn, "options") = c;
  });
}

lowbit_status lowbit_kv_cache_create(lowbit_context* ctx, const lowbit_kv_cache_options* opts, lowbit_kv_cache** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const lowbit_kv_cache_options& o = need(opts, fn, "options");
    need(out, fn, "out");
    KvCacheOptions k;
    k.layers = o.layers;
    k.num_pages = o.num_pages;
    k.page_size = o.page_size;
    k.kv_heads = o.kv_heads;
    k.head_dim = o.head_dim;
    k.format = to_kv_format(o.format, fn);
    take_scales(k.k_scale, o.k_scale, o.k_scale_count, fn, "k_scale");
    take_scales(k.v_scale, o.v_scale, o.v_scale_count, fn, "v_scale");
    *out = new_handle<lowbit_kv_cache>(c, c.create_kv_cache(k));
  });
}

lowbit_status lowbit_kv_cache_destroy(lowbit_kv_cache* cache) {
  return guarded(__func__, [&](const char*) { delete cache; });
}

lowbit_status lowbit_kv_cache_add_sequence(lowbit_kv_cache* cache, int32_t* id) {
  return guarded(__func__, [&](const char* fn) {
    KvCache& c = need(cache, fn, "cache").cache;
    need(id, fn, "id");
    *id = c.add_sequence();
  });
}

lowbit_status lowbit_kv_cache_free_sequence(lowbit_kv_cache* cache, int32_t id) {
  return guarded(__func__, [&](const char* fn) { need(cache, fn, "cache").cache.free_sequence(id); });
}

lowbit_status lowbit_kv_cache_length(const lowbit_kv_cache* cache, int32_t id, int32_t* tokens) {
  return guarded(__func__, [&](const char* fn) {
    int n = need(cache, fn, "cache").cache.length(id);
    need(tokens, fn, "tokens") = n;
  });
}

lowbit_status lowbit_kv_cache_free_pages(const lowbit_kv_cache* cache, int32_t* pages) {
  return guarded(__func__, [&](const char* fn) {
    int n = need(cache, fn, "cache").cache.free_pages();
    need(pages, fn, "pages") = n;
  });
}

lowbit_status lowbit_kv_cache_extend(lowbit_kv_cache* cache, const int32_t* seqs, const int32_t* counts, size_t n) {
  return guarded(__func__, [&](const char* fn) {
    KvCache& c = need(cache, fn, "cache").cache;
    c.extend(int_array(seqs, n, fn, "seqs"), int_array(counts, n, fn, "counts"));
  });
}

lowbit_status lowbit_kv_cache_scatter_free_pages(lowbit_kv_cache* cache, uint32_t seed) {
  return guarded(__func__, [&](const char* fn) { need(cache, fn, "cache").cache.scatter_free_pages(seed); });
}

lowbit_status lowbit_kv_cache_pages(const lowbit_kv_cache* cache, int32_t id, int32_t* pages, size_t capacity,
                                    size_t* count) {
  return guarded(__func__, [&](const char* fn) {
    const std::vector<int32_t>& p = need(cache, fn, "cache").cache.pages(id);
    need(count, fn, "count");
    if (capacity && !pages) invalid(fn, "pages is NULL with capacity " + std::to_string(capacity));
    std::copy_n(p.begin(), std::min(capacity, p.size()), pages);
    *count = p.size();
  });
}

lowbit_status lowbit_kv_append(lowbit_context* ctx, lowbit_kv_cache* cache, int32_t layer, const int32_t* seqs,
                               const int32_t* counts, size_t n, const lowbit_buffer* k, const lowbit_buffer* v) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    KvCache& kv = need_cache(c, cache, fn).cache;
    const Buffer& kb = need_buffer(c, k, fn, "k");
    const Buffer& vb = need_buffer(c, v, fn, "v");
    c.kv_append(kv, layer, int_array(seqs, n, fn, "seqs"), int_array(counts, n, fn, "counts"), kb, vb);
  });
}

lowbit_status lowbit_attention_options_init(lowbit_attention_options* o) {
  return guarded(__func__, [&](const char* fn) {
    AttentionOptions d;
    lowbit_attention_options a{};
    a.causal = d.causal;
    a.window = d.window;
    a.softcap = d.softcap;
    a.out_f32 = d.out_f32;
    a.split_pages = d.split_pages;
    need(o, fn, "options") = a;
  });
}

lowbit_status lowbit_attention(lowbit_context* ctx, const lowbit_buffer* q, lowbit_kv_cache* cache, int32_t layer,
                               const int32_t* seqs, const int32_t* q_counts, size_t n,
                               const lowbit_attention_options* opts, lowbit_buffer** out) {
  return guarded(__func__, [&](const char* fn) {
    Context& c = need(ctx, fn, "ctx").ctx;
    const Buffer& qb = need_buffer(c, q, fn, "q");
    KvCache& kv = need_cache(c, cache, fn).cache;
    need(out, fn, "out");
    Buffer o = c.attention(qb, kv, layer, int_array(seqs, n, fn, "seqs"),
                           int_array(q_counts, n, fn, "q_counts"), attention_options(opts));
    *out = new_handle<lowbit_buffer>(c, std::move(o));
  });
}

}  // extern "C"
