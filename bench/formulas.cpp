// formulas.cpp — see formulas.hpp (the formulas are written out there; keep the two in step).
#include "bench/formulas.hpp"

namespace lowbit::bench {

namespace {
double d(int64_t v) { return double(v); }
double activations_f16(int64_t m, int64_t n, int64_t k) { return 2 * d(m) * d(k) + 2 * d(m) * d(n); }
}  // namespace

Work gemm_f16_work(int64_t m, int64_t n, int64_t k) {
  return {2 * d(n) * d(k) + activations_f16(m, n, k), 2 * d(m) * d(n) * d(k)};
}

Work gemm_w4a16_work(int64_t m, int64_t n, int64_t k, int group, bool sym) {
  double groups = d(n) * d(k / group);
  double w = d(n) * d(k) / 2 + 2 * groups + (sym ? 0 : groups);
  return {w + activations_f16(m, n, k), 2 * d(m) * d(n) * d(k)};
}

Work gemm_w4a8_work(int64_t m, int64_t n, int64_t k, int group) {
  double w = d(n) * d(k) / 2 + 2 * d(n) * d(k / group);
  return {w + d(m) * d(k) + 4 * d(m) + 2 * d(m) * d(n), 2 * d(m) * d(n) * d(k)};
}

Work gemm_f32_work(int64_t m, int64_t n, int64_t k) {
  return {4 * (d(n) * d(k) + d(m) * d(k) + d(m) * d(n)), 2 * d(m) * d(n) * d(k)};
}

Work copy_work(uint64_t size) { return {2 * double(size), 0}; }

Work convert_work(Format f, bool packed, int64_t rows, int64_t cols, DType src, bool quantize) {
  (void)quantize;  // same bytes either way: the values on one side, the codes and scales on the other
  const FormatInfo& fi = format_info(f);
  double values = d(rows) * d(cols) * double(dtype_size(src));
  double codes = d(rows) * double(packed ? packed_row_bytes(f, uint64_t(cols)) : uint64_t(cols));
  double scales = d(rows) * double(scales_per_row(f, uint64_t(cols)));
  double tensor_scale = fi.tensor_scale ? 4 : 0;
  return {values + codes + scales + tensor_scale, 0};
}

double kv_row_bytes(KvFormat f, int head_dim) {
  switch (f) {
    case KvFormat::F16: return 2.0 * head_dim;
    case KvFormat::Int8: return head_dim + 4.0;
    case KvFormat::Int4: return head_dim / 2.0 + 4.0;
    case KvFormat::E4M3:
    case KvFormat::E5M2: return double(head_dim);
  }
  return 0;
}

double attention_visible_keys(int q_len, int context) {
  // query i sees i + (context - q_len) + 1 keys: sum over i = q_len (context - q_len) + q_len (q_len + 1) / 2
  return double(q_len) * double(context - q_len) + double(q_len) * double(q_len + 1) / 2;
}

double attention_kv_bytes(const AttentionShape& s, KvFormat f) {
  return s.batch * 2.0 * s.context * s.kv_heads * kv_row_bytes(f, s.head_dim);
}

Work attention_work(const AttentionShape& s, KvFormat f) {
  double qo = double(s.q_len) * s.q_heads * s.head_dim * (2 + 4);
  double flops = 4.0 * s.q_heads * s.head_dim * attention_visible_keys(s.q_len, s.context);
  return {attention_kv_bytes(s, f) + s.batch * qo, s.batch * flops};
}

Work kv_append_work(int64_t tokens, int kv_heads, int head_dim, KvFormat f) {
  return {2.0 * d(tokens) * kv_heads * (2.0 * head_dim + kv_row_bytes(f, head_dim)) + 4.0 * d(tokens), 0};
}

}  // namespace lowbit::bench
