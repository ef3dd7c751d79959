/* test_c_api.c — the C API from a C11 program (built with -std=c11 -Wall -Wextra -pedantic): every function,
 * its error paths (NULL handles, bad enums and shapes, handles of another context -> status + message), and
 * every op on each backend present, checked against the CPU backend (the C++ reference) and, for the
 * GEMMs, against a reference computed here. Prints "[lowbit tests] SKIPPED: backend ..." for a GPU backend
 * that is absent and not required ($LOWBIT_REQUIRE / $CI); exits 1 on any failure. */
#include <lowbit/lowbit.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...)                                          \
  do {                                                            \
    if (!(cond)) {                                                \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);        \
      fprintf(stderr, __VA_ARGS__);                               \
      fputc('\n', stderr);                                        \
      ++failures;                                                 \
    }                                                             \
  } while (0)

/* A call that must succeed. */
#define OK(call)                                                                                        \
  do {                                                                                                  \
    lowbit_status s_ = (call);                                                                          \
    CHECK(s_ == LOWBIT_OK, "%s -> %s: %s", #call, lowbit_status_string(s_), lowbit_last_error());      \
  } while (0)

/* A call that must fail with `status` and a message containing `text`. */
#define FAILS(call, status, text)                                                                        \
  do {                                                                                                   \
    lowbit_status s_ = (call);                                                                           \
    CHECK(s_ == (status), "%s -> %s, expected %s (%s)", #call, lowbit_status_string(s_),                 \
          lowbit_status_string(status), lowbit_last_error());                                            \
    CHECK(strstr(lowbit_last_error(), (text)) != NULL, "%s: message '%s' lacks '%s'", #call,             \
          lowbit_last_error(), (text));                                                                  \
  } while (0)

/* ---- fp16 on the host ------------------------------------------------------------------------- */
static uint16_t f32_to_f16(float f) { /* round to nearest even; the inputs here are finite */
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u, mant = x & 0x7FFFFFu;
  int exp = (int)((x >> 23) & 0xFF) - 127 + 15;
  if (exp >= 31) return (uint16_t)(sign | 0x7C00u);
  if (exp <= 0) {
    if (exp < -10) return (uint16_t)sign;
    mant |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - exp), half = 1u << (shift - 1), rest = mant & ((1u << shift) - 1);
    uint32_t h = mant >> shift;
    if (rest > half || (rest == half && (h & 1))) ++h;
    return (uint16_t)(sign | h);
  }
  uint32_t h = ((uint32_t)exp << 10) | (mant >> 13), rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) ++h;
  return (uint16_t)(sign | h);
}

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FFu;
  float v = exp == 0 ? ldexpf((float)mant, -24) : ldexpf((float)(mant | 0x400u), (int)exp - 25);
  if (exp == 31) v = mant ? NAN : INFINITY;
  return sign ? -v : v;
}

/* Deterministic values in [-1, 1) on a 1/64 grid (exact in fp16). */
static float value(unsigned i, unsigned seed) { return (float)((int)((i * 2654435761u + seed * 40503u) >> 7) % 128 - 64) / 64.0f; }

/* ---- what one backend computes; the CPU backend's copy is the reference ------------------------- */
enum { M = 3, N = 20, K = 64, QR = 4, QC = 70, HKV = 2, HQ = 4, D = 64, TOK = 7 };
typedef struct results {
  uint8_t mx_codes[QR * 35], mx_scales[QR * 3]; /* MXFP4 packed: 35 bytes and 3 scales a row */
  float mx_back[QR * QC];
  uint8_t nv_codes[QR * QC];
  float nv_tensor_scale;
  float gemm[M * N];      /* gemm_f16, F32 out, F32 bias */
  uint16_t gemm_h[M * N]; /* gemm_f16, F16 out, no bias */
  float w4[M * N];        /* gemm_w4a16 asymmetric, F32 out */
  float w4_sym[M * N];    /* gemm_w4a16 symmetric per channel, act_order, F16 bias */
  float attn[2 * HQ * D]; /* decode attention over an int8 cache */
} results;

static void download(lowbit_context* ctx, lowbit_buffer* b, void* dst, size_t bytes) {
  size_t have = 0;
  OK(lowbit_buffer_bytes(b, &have));
  CHECK(have == bytes, "buffer holds %zu bytes, expected %zu", have, bytes);
  if (have == bytes) OK(lowbit_buffer_download(ctx, b, dst, bytes));
}

static void destroy_buffers(lowbit_buffer* const* buffers, size_t n) {
  for (size_t i = 0; i < n; ++i) OK(lowbit_buffer_destroy(buffers[i]));
}

static lowbit_buffer* upload_f16(lowbit_context* ctx, const float* v, const int64_t* shape, size_t rank) {
  size_t n = 1;
  for (size_t i = 0; i < rank; ++i) n *= (size_t)shape[i];
  uint16_t* h = malloc(n * 2);
  for (size_t i = 0; i < n; ++i) h[i] = f32_to_f16(v[i]);
  lowbit_buffer* b = NULL;
  OK(lowbit_buffer_upload(ctx, LOWBIT_DTYPE_F16, shape, rank, h, n * 2, &b));
  free(h);
  return b;
}

static void run_convert(lowbit_context* ctx, results* r) {
  float x[QR * QC];
  for (unsigned i = 0; i < QR * QC; ++i) x[i] = value(i, 1) * 5.0f;
  int64_t shape[2] = {QR, QC};
  lowbit_buffer* xb = NULL;
  OK(lowbit_buffer_upload(ctx, LOWBIT_DTYPE_F32, shape, 2, x, sizeof x, &xb));

  lowbit_quantize_options qo;
  OK(lowbit_quantize_options_init(&qo));
  CHECK(qo.saturate && !qo.packed, "quantize defaults");
  qo.packed = true;
  lowbit_qtensor* q = NULL;
  OK(lowbit_quantize(ctx, xb, LOWBIT_FORMAT_MXFP4, &qo, &q));
  lowbit_format f;
  bool packed = false;
  OK(lowbit_qtensor_format(q, &f, &packed));
  CHECK(f == LOWBIT_FORMAT_MXFP4 && packed, "qtensor format");
  lowbit_buffer *codes = NULL, *scales = NULL, *ts = (lowbit_buffer*)1;
  OK(lowbit_qtensor_codes(q, &codes));
  OK(lowbit_qtensor_scales(q, &scales));
  OK(lowbit_qtensor_tensor_scale(q, &ts));
  CHECK(ts == NULL, "MXFP4 has no tensor scale");
  download(ctx, codes, r->mx_codes, sizeof r->mx_codes);
  download(ctx, scales, r->mx_scales, sizeof r->mx_scales);

  /* dequantize, and dequantize_into a buffer of our own via a quantized tensor over the parts */
  lowbit_buffer* back = NULL;
  OK(lowbit_dequantize(ctx, q, LOWBIT_DTYPE_F32, &back));
  download(ctx, back, r->mx_back, sizeof r->mx_back);
  lowbit_qtensor* wrapped = NULL;
  OK(lowbit_qtensor_wrap(LOWBIT_FORMAT_MXFP4, true, shape, 2, codes, scales, NULL, &wrapped));
  lowbit_buffer* back2 = NULL;
  OK(lowbit_buffer_alloc(ctx, LOWBIT_DTYPE_F32, shape, 2, &back2));
  OK(lowbit_dequantize_into(ctx, wrapped, back2));
  float again[QR * QC];
  download(ctx, back2, again, sizeof again);
  CHECK(memcmp(again, r->mx_back, sizeof again) == 0, "dequantize_into of the wrapped parts == dequantize");
  for (unsigned i = 0; i < QR * QC; ++i)
    CHECK(fabsf(r->mx_back[i] - x[i]) <= 0.5f * 4.0f + 1e-6f, "MXFP4 round trip of %g gave %g", x[i], r->mx_back[i]);

  /* NVFP4 into a preallocated tensor, with the application's tensor scale */
  lowbit_qtensor* nv = NULL;
  OK(lowbit_qtensor_alloc(ctx, LOWBIT_FORMAT_NVFP4, shape, 2, false, &nv));
  lowbit_quantize_options no;
  OK(lowbit_quantize_options_init(&no));
  no.has_nvfp4_tensor_scale = true;
  no.nvfp4_tensor_scale = 0.01f;
  OK(lowbit_quantize_into(ctx, xb, nv, &no));
  lowbit_buffer *nv_codes = NULL, *nv_ts = NULL;
  OK(lowbit_qtensor_codes(nv, &nv_codes));
  OK(lowbit_qtensor_tensor_scale(nv, &nv_ts));
  download(ctx, nv_codes, r->nv_codes, sizeof r->nv_codes);
  download(ctx, nv_ts, &r->nv_tensor_scale, sizeof r->nv_tensor_scale);
  CHECK(r->nv_tensor_scale == 0.01f, "NVFP4 tensor scale %g, asked for 0.01", r->nv_tensor_scale);

  /* errors: non-saturating MX, a shape that does not match, another dtype asked for */
  lowbit_quantize_options bad;
  OK(lowbit_quantize_options_init(&bad));
  bad.saturate = false;
  lowbit_qtensor* none = NULL;
  FAILS(lowbit_quantize(ctx, xb, LOWBIT_FORMAT_MXFP4, &bad, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "non-saturating");
  FAILS(lowbit_quantize(ctx, xb, (lowbit_format)11, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "unknown format 11");
  FAILS(lowbit_dequantize(ctx, q, LOWBIT_DTYPE_I32, &back), LOWBIT_ERROR_INVALID_ARGUMENT, "dequantize");
  FAILS(lowbit_dequantize_into(ctx, q, codes), LOWBIT_ERROR_INVALID_ARGUMENT, "dequantize");
  CHECK(none == NULL, "a failed call leaves *out alone");

  OK(lowbit_qtensor_destroy(wrapped));
  OK(lowbit_qtensor_destroy(nv));
  lowbit_buffer* parts[] = {back2, back, codes, scales, nv_codes, nv_ts};
  destroy_buffers(parts, sizeof parts / sizeof parts[0]);
  OK(lowbit_buffer_destroy(xb)); /* before q: q's parts stay valid */
  OK(lowbit_qtensor_destroy(q));
}

/* Y = X W^T + bias in fp32 from the fp16 inputs. */
static void reference_gemm(const float* x, const float* w, const float* bias, float* y) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      float acc = bias ? bias[n] : 0.0f;
      for (int k = 0; k < K; ++k) acc += x[m * K + k] * w[n * K + k];
      y[m * N + n] = acc;
    }
}

static void run_gemm(lowbit_context* ctx, results* r) {
  float x[M * K], w[N * K], bias[N], ref[M * N];
  for (unsigned i = 0; i < M * K; ++i) x[i] = value(i, 2);
  for (unsigned i = 0; i < N * K; ++i) w[i] = value(i, 3) / 4.0f;
  for (unsigned i = 0; i < N; ++i) bias[i] = value(i, 4) + 0.001f; /* not an fp16 value: added in fp32 */
  int64_t xs[2] = {M, K}, ws[2] = {N, K}, bs[1] = {N};
  lowbit_buffer* xb = upload_f16(ctx, x, xs, 2);
  lowbit_buffer* wb = upload_f16(ctx, w, ws, 2);
  lowbit_buffer* bb = NULL;
  OK(lowbit_buffer_upload(ctx, LOWBIT_DTYPE_F32, bs, 1, bias, sizeof bias, &bb));

  lowbit_gemm_options go;
  OK(lowbit_gemm_options_init(&go));
  CHECK(go.path == LOWBIT_GEMM_PATH_AUTO && go.out == LOWBIT_DTYPE_F16 && go.split_k == 0, "gemm defaults");
  go.out = LOWBIT_DTYPE_F32;
  lowbit_buffer* y = NULL;
  OK(lowbit_gemm_f16(ctx, xb, wb, bb, &go, &y));
  download(ctx, y, r->gemm, sizeof r->gemm);
  reference_gemm(x, w, bias, ref);
  for (int i = 0; i < M * N; ++i)
    CHECK(fabsf(r->gemm[i] - ref[i]) <= 1e-4f, "gemm_f16[%d] = %g, reference %g", i, r->gemm[i], ref[i]);
  lowbit_buffer* yh = NULL;
  OK(lowbit_gemm_f16(ctx, xb, wb, NULL, NULL, &yh));
  lowbit_dtype dt;
  OK(lowbit_buffer_dtype(yh, &dt));
  CHECK(dt == LOWBIT_DTYPE_F16, "default GEMM output is F16");
  download(ctx, yh, r->gemm_h, sizeof r->gemm_h);
  reference_gemm(x, w, NULL, ref);
  for (int i = 0; i < M * N; ++i)
    CHECK(fabsf(f16_to_f32(r->gemm_h[i]) - ref[i]) <= 2e-3f * (1.0f + fabsf(ref[i])), "gemm_f16 F16[%d]", i);

  lowbit_gemm_launch launch;
  OK(lowbit_last_gemm_launch(ctx, &launch));
  CHECK(launch.kernel[0] != '\0' && launch.workgroups > 0, "last GEMM launch: '%s'", launch.kernel);
  lowbit_gemm_path path;
  OK(lowbit_choose_gemm_path(ctx, 1, &path));
  CHECK(path == LOWBIT_GEMM_PATH_GEMV, "M = 1 runs the GEMV path");

  /* int4: RTN asymmetric group 32 into our arrays, uploaded */
  int32_t group = 0;
  size_t words = 0, nscales = 0, nzeros = 0;
  OK(lowbit_w4_sizes(N, K, 32, false, &group, &words, &nscales, &nzeros));
  CHECK(group == 32 && words == (size_t)(K / 8 * N) && nscales == (size_t)(K / 32 * N) && nzeros == nscales,
        "w4 sizes");
  uint32_t* qw = malloc(words * 4);
  uint16_t* sc = malloc(nscales * 2);
  uint8_t* zr = malloc(nzeros);
  OK(lowbit_w4_quantize_rtn(w, N, K, 32, false, qw, words, sc, nscales, zr, nzeros));
  lowbit_w4_host h = {N, K, group, false, qw, sc, zr, NULL};
  lowbit_w4_layer* layer = NULL;
  OK(lowbit_w4_upload(ctx, &h, NULL, &layer));
  lowbit_buffer* y4 = NULL;
  OK(lowbit_gemm_w4a16(ctx, xb, layer, &go, &y4));
  download(ctx, y4, r->w4, sizeof r->w4);
  for (int i = 0; i < M * N; ++i) /* int4 error: 1/30 of each group's range per weight at most */
    CHECK(fabsf(r->w4[i] - ref[i]) <= 0.1f, "gemm_w4a16[%d] = %g, fp16 GEMM %g", i, r->w4[i], ref[i]);

  /* symmetric per output channel, with a permutation (act_order) and an fp16 bias */
  OK(lowbit_w4_sizes(N, K, -1, true, &group, &words, &nscales, &nzeros));
  CHECK(group == K && nzeros == 0, "per-channel sizes");
  OK(lowbit_w4_quantize_rtn(w, N, K, -1, true, qw, words, sc, nscales, NULL, 0));
  int32_t perm[K];
  for (int k = 0; k < K; ++k) perm[k] = K - 1 - k;
  uint16_t bias_h[N];
  for (int n = 0; n < N; ++n) bias_h[n] = f32_to_f16(bias[n]);
  lowbit_w4_host hs = {N, K, group, true, qw, sc, NULL, perm};
  lowbit_w4_layer* sym = NULL;
  OK(lowbit_w4_upload(ctx, &hs, bias_h, &sym));
  lowbit_buffer* ys = NULL;
  OK(lowbit_gemm_w4a16(ctx, xb, sym, &go, &ys));
  download(ctx, ys, r->w4_sym, sizeof r->w4_sym);

  /* errors: shapes that do not fit, arrays of the wrong length, a zero point out of range */
  lowbit_buffer* none = NULL;
  FAILS(lowbit_gemm_f16(ctx, xb, yh, NULL, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "gemm"); /* K 64 vs 20 */
  FAILS(lowbit_gemm_f16(ctx, xb, NULL, NULL, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "lowbit_gemm_f16: w is NULL");
  go.path = (lowbit_gemm_path)9;
  FAILS(lowbit_gemm_f16(ctx, xb, wb, NULL, &go, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "unknown GEMM path 9");
  FAILS(lowbit_w4_quantize_rtn(w, N, K, 32, false, qw, words - 1, sc, nscales, zr, nzeros),
        LOWBIT_ERROR_INVALID_ARGUMENT, "qweight holds");
  FAILS(lowbit_w4_sizes(N, K, 24, false, NULL, NULL, NULL, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "24");
  OK(lowbit_w4_quantize_rtn(w, N, K, 32, false, qw, K / 8 * N, sc, K / 32 * N, zr, K / 32 * N));
  zr[0] = 17; /* h still describes these arrays: group 32, asymmetric */
  FAILS(lowbit_w4_upload(ctx, &h, NULL, &layer), LOWBIT_ERROR_INVALID_ARGUMENT, "zero point 17");
  h.scales = NULL;
  FAILS(lowbit_w4_upload(ctx, &h, NULL, &layer), LOWBIT_ERROR_INVALID_ARGUMENT, "scales is NULL");
  lowbit_w4_host huge = {INT32_MAX, INT32_MAX, INT32_MAX, true, qw, sc, NULL, NULL}; /* 2^60 words: no memory holds them */
  FAILS(lowbit_w4_upload(ctx, &huge, NULL, &layer), LOWBIT_ERROR_OUT_OF_MEMORY, "lowbit_w4_upload: out of host memory");
  CHECK(none == NULL, "failed GEMMs leave *out alone");

  free(qw);
  free(sc);
  free(zr);
  OK(lowbit_w4_layer_destroy(sym));
  OK(lowbit_w4_layer_destroy(layer));
  lowbit_buffer* all[] = {xb, wb, bb, y, yh, y4, ys};
  destroy_buffers(all, sizeof all / sizeof all[0]);
}

static void run_attention(lowbit_context* ctx, results* r) {
  lowbit_kv_cache_options ko;
  OK(lowbit_kv_cache_options_init(&ko));
  CHECK(ko.layers == 1 && ko.page_size == 16 && ko.format == LOWBIT_KV_FORMAT_F16, "KV cache defaults");
  ko.num_pages = 4;
  ko.page_size = 4;
  ko.kv_heads = HKV;
  ko.head_dim = D;
  ko.format = LOWBIT_KV_FORMAT_INT8;
  lowbit_kv_cache* cache = NULL;
  OK(lowbit_kv_cache_create(ctx, &ko, &cache));
  OK(lowbit_kv_cache_scatter_free_pages(cache, 7));
  int32_t seq[2];
  OK(lowbit_kv_cache_add_sequence(cache, &seq[0]));
  OK(lowbit_kv_cache_add_sequence(cache, &seq[1]));
  int32_t counts[2] = {5, 2};
  OK(lowbit_kv_cache_extend(cache, seq, counts, 2));
  int32_t len = 0, free_pages = 0;
  OK(lowbit_kv_cache_length(cache, seq[0], &len));
  OK(lowbit_kv_cache_free_pages(cache, &free_pages));
  CHECK(len == 5 && free_pages == 1, "length %d, free pages %d", len, free_pages);
  int32_t pages[4];
  size_t npages = 0;
  OK(lowbit_kv_cache_pages(cache, seq[0], pages, 4, &npages));
  CHECK(npages == 2 && pages[0] != pages[1], "sequence 0 holds 2 pages");

  float kv[TOK * HKV * D + 8], qv[2 * HQ * D];
  for (unsigned i = 0; i < TOK * HKV * D + 8; ++i) kv[i] = value(i, 5);
  for (unsigned i = 0; i < 2 * HQ * D; ++i) qv[i] = value(i, 6);
  int64_t kvs[3] = {TOK, HKV, D}, qs[3] = {2, HQ, D};
  lowbit_buffer* kb = upload_f16(ctx, kv, kvs, 3);
  lowbit_buffer* vb = upload_f16(ctx, kv + 8, kvs, 3); /* a shifted copy: V differs from K */
  lowbit_buffer* qb = upload_f16(ctx, qv, qs, 3);
  OK(lowbit_kv_append(ctx, cache, 0, seq, counts, 2, kb, vb));
  lowbit_attention_options ao;
  OK(lowbit_attention_options_init(&ao));
  CHECK(ao.causal && ao.out_f32 && !ao.has_scale, "attention defaults");
  int32_t ones[2] = {1, 1};
  lowbit_buffer* out = NULL;
  OK(lowbit_attention(ctx, qb, cache, 0, seq, ones, 2, &ao, &out));
  download(ctx, out, r->attn, sizeof r->attn);
  for (unsigned i = 0; i < 2 * HQ * D; ++i) CHECK(fabsf(r->attn[i]) <= 1.01f, "attention output %g outside the V range", r->attn[i]);

  /* errors: the cache is full, a bad layer, unknown sequences, a bad head dim */
  int32_t more[1] = {64};
  FAILS(lowbit_kv_cache_extend(cache, seq, more, 1), LOWBIT_ERROR_OUT_OF_MEMORY, "");
  FAILS(lowbit_kv_append(ctx, cache, 3, seq, counts, 2, kb, vb), LOWBIT_ERROR_INVALID_ARGUMENT, "layer");
  FAILS(lowbit_kv_cache_length(cache, 99, &len), LOWBIT_ERROR_INVALID_ARGUMENT, "99");
  FAILS(lowbit_kv_cache_extend(cache, NULL, counts, 2), LOWBIT_ERROR_INVALID_ARGUMENT, "seqs is NULL");
  lowbit_kv_cache* none = NULL;
  ko.head_dim = 7;
  FAILS(lowbit_kv_cache_create(ctx, &ko, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "head dim 7");
  ko.head_dim = D;
  ko.format = LOWBIT_KV_FORMAT_E4M3;
  float scales[3] = {1, 1, 1};
  ko.k_scale = scales;
  ko.k_scale_count = 3;
  FAILS(lowbit_kv_cache_create(ctx, &ko, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "k_scale");
  CHECK(none == NULL, "failed create leaves *out alone");

  OK(lowbit_kv_cache_free_sequence(cache, seq[1]));
  OK(lowbit_kv_cache_free_pages(cache, &free_pages));
  CHECK(free_pages == 2, "freeing sequence 1 gives its page back (%d free)", free_pages);
  OK(lowbit_kv_cache_destroy(cache));
  lowbit_buffer* all[] = {out, kb, vb, qb}; /* after the cache: order does not matter */
  destroy_buffers(all, sizeof all / sizeof all[0]);
}

/* Buffers, views, copies, the stream and timing. */
static void run_buffers(lowbit_context* ctx) {
  int32_t data[12];
  for (int i = 0; i < 12; ++i) data[i] = i * 3 - 7;
  int64_t shape[2] = {3, 4};
  lowbit_buffer *a = NULL, *b = NULL, *v = NULL;
  OK(lowbit_buffer_upload(ctx, LOWBIT_DTYPE_I32, shape, 2, data, sizeof data, &a));
  OK(lowbit_buffer_alloc(ctx, LOWBIT_DTYPE_I32, shape, 2, &b));
  OK(lowbit_reset_timing(ctx));
  OK(lowbit_buffer_copy(ctx, a, b));
  OK(lowbit_submit(ctx));
  OK(lowbit_wait(ctx));
  double ms = -1;
  OK(lowbit_timing(ctx, &ms));
  CHECK(ms >= 0, "device time %g", ms);
  int64_t flat[1] = {12};
  OK(lowbit_buffer_view(b, LOWBIT_DTYPE_U32, flat, 1, &v));
  int64_t dims[4] = {0};
  size_t rank = 0;
  OK(lowbit_buffer_shape(v, dims, 4, &rank));
  CHECK(rank == 1 && dims[0] == 12, "view shape");
  OK(lowbit_buffer_shape(a, NULL, 0, &rank));
  CHECK(rank == 2, "rank without dims");
  int32_t back[12];
  download(ctx, v, back, sizeof back);
  CHECK(memcmp(back, data, sizeof data) == 0, "copy + view round trip");

  lowbit_buffer* none = NULL;
  int64_t big[1] = {13};
  FAILS(lowbit_buffer_view(b, LOWBIT_DTYPE_I32, big, 1, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "");
  FAILS(lowbit_buffer_upload(ctx, LOWBIT_DTYPE_I32, shape, 2, data, 8, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "8 bytes");
  FAILS(lowbit_buffer_alloc(ctx, (lowbit_dtype)42, shape, 2, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "unknown dtype 42");
  FAILS(lowbit_buffer_alloc(ctx, LOWBIT_DTYPE_F32, NULL, 2, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "shape is NULL");
  int64_t negative[2] = {3, -4};
  FAILS(lowbit_buffer_alloc(ctx, LOWBIT_DTYPE_F32, negative, 2, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "negative");
  FAILS(lowbit_buffer_download(ctx, a, back, 4), LOWBIT_ERROR_INVALID_ARGUMENT, "4 bytes asked for");
  FAILS(lowbit_buffer_download(ctx, NULL, back, 4), LOWBIT_ERROR_INVALID_ARGUMENT, "buffer is NULL");
  FAILS(lowbit_buffer_download(NULL, a, back, 4), LOWBIT_ERROR_INVALID_ARGUMENT, "ctx is NULL");
  FAILS(lowbit_buffer_alloc(ctx, LOWBIT_DTYPE_F32, shape, 2, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "out is NULL");
  CHECK(none == NULL, "failed calls leave *out alone");
  OK(lowbit_buffer_destroy(v));
  OK(lowbit_buffer_destroy(b));
  OK(lowbit_buffer_destroy(a));
}

static bool required(const char* backend) {
  const char* ci = getenv("CI");
  if (ci && *ci && strcmp(ci, "0") != 0 && strcmp(ci, "false") != 0) return true;
  const char* req = getenv("LOWBIT_REQUIRE");
  return req && strstr(req, backend);
}

static void compare(const char* name, const results* r, const results* cpu) {
  CHECK(memcmp(r->mx_codes, cpu->mx_codes, sizeof r->mx_codes) == 0, "%s: MXFP4 codes differ from the CPU's", name);
  CHECK(memcmp(r->mx_scales, cpu->mx_scales, sizeof r->mx_scales) == 0, "%s: MXFP4 scales differ", name);
  CHECK(memcmp(r->mx_back, cpu->mx_back, sizeof r->mx_back) == 0, "%s: MXFP4 dequantized values differ", name);
  CHECK(memcmp(r->nv_codes, cpu->nv_codes, sizeof r->nv_codes) == 0, "%s: NVFP4 codes differ", name);
  for (int i = 0; i < M * N; ++i) {
    CHECK(fabsf(r->gemm[i] - cpu->gemm[i]) <= 1e-4f, "%s: gemm_f16[%d] %g, CPU %g", name, i, r->gemm[i], cpu->gemm[i]);
    float h = f16_to_f32(r->gemm_h[i]), hc = f16_to_f32(cpu->gemm_h[i]);
    CHECK(fabsf(h - hc) <= 1e-3f * (1.0f + fabsf(hc)), "%s: gemm_f16 F16[%d] %g, CPU %g", name, i, h, hc);
    CHECK(fabsf(r->w4[i] - cpu->w4[i]) <= 1e-4f, "%s: gemm_w4a16[%d] %g, CPU %g", name, i, r->w4[i], cpu->w4[i]);
    CHECK(fabsf(r->w4_sym[i] - cpu->w4_sym[i]) <= 1e-3f, "%s: gemm_w4a16 sym[%d] %g, CPU %g", name, i, r->w4_sym[i],
          cpu->w4_sym[i]);
  }
  for (int i = 0; i < 2 * HQ * D; ++i)
    CHECK(fabsf(r->attn[i] - cpu->attn[i]) <= 2e-3f, "%s: attention[%d] %g, CPU %g", name, i, r->attn[i], cpu->attn[i]);
}

/* Errors that need no device, and handles of another context. */
static void run_errors(lowbit_context* cpu, lowbit_context* other) {
  CHECK(strcmp(lowbit_status_string(LOWBIT_ERROR_NOT_FOUND), "not found") == 0, "status names");
  CHECK(strcmp(lowbit_status_string((lowbit_status)99), "unknown status") == 0, "unknown status name");
  lowbit_context* none = NULL;
  FAILS(lowbit_context_create(NULL, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "lowbit_context_create: out is NULL");
  lowbit_context_options o;
  OK(lowbit_context_options_init(&o));
  o.backend = (lowbit_backend)7;
  FAILS(lowbit_context_create(&o, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "unknown backend 7");
  o.backend = LOWBIT_BACKEND_CPU;
  o.device = "no-such-device";
  FAILS(lowbit_context_create(&o, &none), LOWBIT_ERROR_NOT_FOUND, "no-such-device");
  CHECK(none == NULL, "failed create leaves *out alone");
  OK(lowbit_context_destroy(NULL));
  OK(lowbit_buffer_destroy(NULL));
  OK(lowbit_qtensor_destroy(NULL));
  OK(lowbit_w4_layer_destroy(NULL));
  OK(lowbit_kv_cache_destroy(NULL));
  CHECK(strcmp(lowbit_last_error(), "") == 0, "a call that succeeds clears the last error");
  lowbit_device_info info;
  FAILS(lowbit_context_device_info(NULL, &info), LOWBIT_ERROR_INVALID_ARGUMENT, "ctx is NULL");
  FAILS(lowbit_submit(NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "lowbit_submit: ctx is NULL");

  lowbit_format f;
  OK(lowbit_format_parse("nvfp4", &f));
  CHECK(f == LOWBIT_FORMAT_NVFP4, "parse nvfp4");
  const char* name = NULL;
  OK(lowbit_format_name(LOWBIT_FORMAT_MXFP6_E2M3, &name));
  CHECK(name && strcmp(name, "mxfp6_e2m3") == 0, "format name '%s'", name ? name : "(null)");
  FAILS(lowbit_format_parse("fp5", &f), LOWBIT_ERROR_INVALID_ARGUMENT, "fp5");
  uint64_t bytes = 0, nscales = 0;
  OK(lowbit_format_packed_row_bytes(LOWBIT_FORMAT_MXFP6_E3M2, 5, &bytes));
  OK(lowbit_format_scales_per_row(LOWBIT_FORMAT_NVFP4, 33, &nscales));
  CHECK(bytes == 6 && nscales == 3, "packed row bytes %llu, scales %llu", (unsigned long long)bytes,
        (unsigned long long)nscales);

  /* a buffer of one context in another context's op */
  int64_t shape[2] = {2, 64};
  lowbit_buffer *mine = NULL, *theirs = NULL, *y = NULL;
  OK(lowbit_buffer_alloc(cpu, LOWBIT_DTYPE_F16, shape, 2, &mine));
  OK(lowbit_buffer_alloc(other, LOWBIT_DTYPE_F16, shape, 2, &theirs));
  FAILS(lowbit_gemm_f16(cpu, mine, theirs, NULL, NULL, &y), LOWBIT_ERROR_INVALID_ARGUMENT, "w belongs to another context");
  FAILS(lowbit_buffer_download(other, mine, NULL, 0), LOWBIT_ERROR_INVALID_ARGUMENT, "another context");
  CHECK(y == NULL, "no result on error");
  OK(lowbit_buffer_destroy(mine));
  OK(lowbit_buffer_destroy(theirs));
}

int main(void) {
  const char* version = lowbit_version();
  CHECK(version && *version, "lowbit_version");
  printf("lowbit %s\n", version);

  static results cpu_results, gpu_results;
  lowbit_context_options o;
  OK(lowbit_context_options_init(&o));
  o.backend = LOWBIT_BACKEND_CPU;
  lowbit_context *cpu = NULL, *cpu2 = NULL;
  OK(lowbit_context_create(&o, &cpu));
  OK(lowbit_context_create(&o, &cpu2));
  if (!cpu || !cpu2) return 1;
  run_errors(cpu, cpu2);
  OK(lowbit_context_destroy(cpu2));
  run_buffers(cpu);
  run_convert(cpu, &cpu_results);
  run_gemm(cpu, &cpu_results);
  run_attention(cpu, &cpu_results);
  OK(lowbit_context_destroy(cpu));

  const struct { lowbit_backend backend; const char* name; } gpus[] = {{LOWBIT_BACKEND_VULKAN, "vulkan"},
                                                                        {LOWBIT_BACKEND_OPENCL, "opencl"}};
  for (size_t i = 0; i < 2; ++i) {
    o.backend = gpus[i].backend;
    lowbit_context* ctx = NULL;
    lowbit_status s = lowbit_context_create(&o, &ctx);
    if (s != LOWBIT_OK) {
      if (required(gpus[i].name) || (s != LOWBIT_ERROR_NOT_FOUND && s != LOWBIT_ERROR_UNSUPPORTED))
        CHECK(0, "%s: %s: %s", gpus[i].name, lowbit_status_string(s), lowbit_last_error());
      else
        fprintf(stderr, "[lowbit tests] SKIPPED: backend %s (%s)\n", gpus[i].name, lowbit_last_error());
      continue;
    }
    lowbit_device_info info;
    OK(lowbit_context_device_info(ctx, &info));
    CHECK(info.backend == gpus[i].backend && info.name && *info.name, "device info of %s", gpus[i].name);
    printf("%s: %s (subgroup %u, fp16 %d)\n", gpus[i].name, info.name, info.subgroup_size, (int)info.fp16);
    memset(&gpu_results, 0, sizeof gpu_results);
    run_buffers(ctx);
    run_convert(ctx, &gpu_results);
    run_gemm(ctx, &gpu_results);
    run_attention(ctx, &gpu_results);
    OK(lowbit_context_destroy(ctx));
    compare(gpus[i].name, &gpu_results, &cpu_results);
  }
  uint64_t messages = 0;
  OK(lowbit_validation_message_count(&messages));
  CHECK(messages == 0, "%llu Vulkan validation messages", (unsigned long long)messages);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("all C API checks passed\n");
  return failures ? 1 : 0;
}
