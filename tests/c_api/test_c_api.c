/* test_c_api.c — the C API from a C11 program (built with -std=c11 -Wall -Wextra -pedantic): every function,
 * its error paths (NULL handles, bad enums and shapes, handles of another context -> status + message), and
 * every op on each backend present, checked against the CPU backend (the C++ reference) and, for the
 * GEMMs, against a reference computed here. Prints "[lowbit tests] SKIPPED: backend ..." for a GPU backend
 * that is absent and not required ($LOWBIT_REQUIRE / $CI); exits 1 on any failure. */
#include <lowbit/lowbit.h>

#ifdef LOWBIT_TEST_VULKAN /* only this test includes the API headers: lowbit.h needs neither */
#include <vulkan/vulkan.h>
#endif
#ifdef LOWBIT_TEST_OPENCL
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#endif

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
  int8_t act_codes[M * K];   /* quantize_activations_int8 */
  float act_scales[M];
  int32_t act_sums[M];
  int8_t rms_codes[M * K];   /* ... with an RMSNorm weight */
  float rms_scales[M];
  float w4a8[M * N];         /* gemm_w4a8, QoQ group 32, F32 out */
  uint16_t w4a8_pc[M * N];   /* gemm_w4a8, QoQ per channel, F16 bias, F16 out */
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

/* ---- W4A8 ------------------------------------------------------------------------------------- */
/* The inputs every W4A8 test uses: x fp32 [M, K], W fp32 [N, K]. */
static void w4a8_inputs(float* x, float* w) {
  for (unsigned i = 0; i < M * K; ++i) x[i] = value(i, 7) * 3.0f + (i % 5 == 0 ? 0.3f : 0.0f);
  for (unsigned i = 0; i < N * K; ++i) w[i] = value(i, 8) * (i % 17 == 0 ? 4.0f : 0.5f);
}

/* A QoQ layer of W (group 32 or -1), quantized into arrays of ours: the caller frees the four arrays. */
typedef struct qoq_arrays {
  lowbit_qoq_host h;
  uint32_t* qweight;
  uint16_t* s1;
  uint8_t *s2, *zeros;
  size_t words, ns1, ns2, nzeros;
} qoq_arrays;

static qoq_arrays make_qoq(const float* w, int32_t group) {
  qoq_arrays q;
  memset(&q, 0, sizeof q);
  int32_t g = 0;
  bool pc = false;
  OK(lowbit_qoq_sizes(N, K, group, &g, &pc, &q.words, &q.ns1, &q.ns2, &q.nzeros));
  q.qweight = malloc(q.words * 4);
  q.s1 = malloc(q.ns1 * 2);
  q.s2 = q.ns2 ? malloc(q.ns2) : NULL;
  q.zeros = q.nzeros ? malloc(q.nzeros) : NULL;
  lowbit_qoq_report rep = {-1, -1};
  OK(lowbit_qoq_quantize(w, N, K, group, q.qweight, q.words, q.s1, q.ns1, q.s2, q.ns2, q.zeros, q.nzeros, &rep));
  CHECK(rep.level1_clamped >= 0 && rep.level1_clamped < N * K / 8 && rep.s1_overflow == 0, "QoQ report %lld %lld",
        (long long)rep.level1_clamped, (long long)rep.s1_overflow);
  lowbit_qoq_host h = {N, K, g, pc, q.qweight, q.s1, q.s2, q.zeros};
  q.h = h;
  return q;
}

static void free_qoq(qoq_arrays* q) {
  free(q->qweight);
  free(q->s1);
  free(q->s2);
  free(q->zeros);
}

/* Y = (float(acc) * a_scale[m]) * s1[n], acc = sum_k a[m,k] * (u - z) * s2 in exact integers: what every
 * backend must write for F32 output without bias. */
static void reference_w4a8(const results* r, const qoq_arrays* q, float* y) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      int32_t acc = 0;
      for (int k = 0; k < K; ++k) {
        uint32_t word = q->qweight[(k / 8) * N + n];
        int j = k % 8, u = (int)((word >> (4 * ((j & 3) * 2 + (j >> 2)))) & 0xFu);
        int g = k / q->h.group;
        int s2 = q->h.per_channel ? 1 : q->s2[g * N + n], z = q->h.per_channel ? 8 : q->zeros[g * N + n];
        acc += (int32_t)r->act_codes[m * K + k] * (u - z) * s2;
      }
      volatile float t = (float)acc * r->act_scales[m]; /* two fp32 products, never contracted */
      y[m * N + n] = t * f16_to_f32(q->s1[n]);
    }
}

static void run_w4a8(lowbit_context* ctx, results* r) {
  float x[M * K], w[N * K], ref[M * N];
  w4a8_inputs(x, w);
  int64_t xs[2] = {M, K}, ks[1] = {K};
  lowbit_buffer* xb = NULL;
  OK(lowbit_buffer_upload(ctx, LOWBIT_DTYPE_F32, xs, 2, x, sizeof x, &xb));

  /* activations: codes, scales, sums; then with an RMSNorm weight */
  lowbit_act_quant_options ao;
  OK(lowbit_act_quant_options_init(&ao));
  CHECK(ao.rms_weight == NULL && ao.eps == 1e-6f, "activation quantization defaults");
  lowbit_act_int8* act = NULL;
  OK(lowbit_quantize_activations_int8(ctx, xb, NULL, &act));
  lowbit_buffer *codes = NULL, *scales = NULL, *sums = NULL;
  OK(lowbit_act_int8_buffers(act, &codes, &scales, &sums));
  download(ctx, codes, r->act_codes, sizeof r->act_codes);
  download(ctx, scales, r->act_scales, sizeof r->act_scales);
  download(ctx, sums, r->act_sums, sizeof r->act_sums);
  for (int m = 0; m < M; ++m) {
    float amax = 0;
    int32_t sum = 0;
    for (int k = 0; k < K; ++k) {
      amax = fmaxf(amax, fabsf(x[m * K + k]));
      sum += r->act_codes[m * K + k];
    }
    CHECK(r->act_scales[m] == amax / 127.0f, "row %d: scale %g, absmax / 127 = %g", m, r->act_scales[m], amax / 127.0f);
    CHECK(r->act_sums[m] == sum, "row %d: sum %d, codes add to %d", m, r->act_sums[m], sum);
  }
  float rw[K];
  for (int k = 0; k < K; ++k) rw[k] = 0.5f + value((unsigned)k, 9);
  lowbit_buffer* rwb = upload_f16(ctx, rw, ks, 1);
  ao.rms_weight = rwb;
  ao.eps = 1e-5f;
  lowbit_act_int8* act_rms = NULL;
  OK(lowbit_quantize_activations_int8(ctx, xb, &ao, &act_rms));
  lowbit_buffer *rcodes = NULL, *rscales = NULL;
  OK(lowbit_act_int8_buffers(act_rms, &rcodes, &rscales, NULL));
  download(ctx, rcodes, r->rms_codes, sizeof r->rms_codes);
  download(ctx, rscales, r->rms_scales, sizeof r->rms_scales);

  /* QoQ group 32, F32 out: exactly the integer reference */
  qoq_arrays q = make_qoq(w, 32);
  CHECK(q.h.group == 32 && !q.h.per_channel && q.words == (size_t)(K / 8 * N) && q.ns2 == (size_t)(K / 32 * N),
        "QoQ sizes");
  lowbit_w4a8_layer* layer = NULL;
  OK(lowbit_qoq_upload(ctx, &q.h, NULL, &layer));
  lowbit_gemm_options go;
  OK(lowbit_gemm_options_init(&go));
  go.out = LOWBIT_DTYPE_F32;
  lowbit_buffer* y = NULL;
  OK(lowbit_gemm_w4a8(ctx, act, layer, &go, &y));
  download(ctx, y, r->w4a8, sizeof r->w4a8);
  reference_w4a8(r, &q, ref);
  CHECK(memcmp(r->w4a8, ref, sizeof ref) == 0, "gemm_w4a8 differs from the exact integer reference (y[0] %g, ref %g)",
        r->w4a8[0], ref[0]);
  reference_gemm(x, w, NULL, ref); /* and near the fp32 GEMM: 4-bit heavy-tailed weights, 8-bit activations */
  float ymax = 0;
  for (int i = 0; i < M * N; ++i) ymax = fmaxf(ymax, fabsf(ref[i]));
  for (int i = 0; i < M * N; ++i)
    CHECK(fabsf(r->w4a8[i] - ref[i]) <= 0.2f * ymax, "gemm_w4a8[%d] = %g, fp32 GEMM %g (max |y| %g)", i, r->w4a8[i],
          ref[i], ymax);

  /* per channel, F16 bias, F16 output (default options) */
  qoq_arrays pc = make_qoq(w, -1);
  CHECK(pc.h.group == K && pc.h.per_channel && pc.ns2 == 0 && pc.nzeros == 0 && pc.s2 == NULL, "per-channel QoQ sizes");
  uint16_t bias_h[N];
  for (int n = 0; n < N; ++n) bias_h[n] = f32_to_f16(value((unsigned)n, 10));
  lowbit_w4a8_layer* layer_pc = NULL;
  OK(lowbit_qoq_upload(ctx, &pc.h, bias_h, &layer_pc));
  lowbit_buffer* ypc = NULL;
  OK(lowbit_gemm_w4a8(ctx, act, layer_pc, NULL, &ypc));
  download(ctx, ypc, r->w4a8_pc, sizeof r->w4a8_pc);

  /* errors */
  lowbit_buffer* none = NULL;
  lowbit_act_int8* no_act = NULL;
  lowbit_w4a8_layer* no_layer = NULL;
  FAILS(lowbit_qoq_sizes(N, K, 24, NULL, NULL, NULL, NULL, NULL, NULL), LOWBIT_ERROR_INVALID_ARGUMENT,
        "lowbit_qoq_sizes: qoq: group size 24 does not divide K = 64");
  FAILS(lowbit_qoq_sizes(N, 0, 32, NULL, NULL, NULL, NULL, NULL, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "positive");
  FAILS(lowbit_qoq_quantize(w, N, K, 32, q.qweight, q.words - 1, q.s1, q.ns1, q.s2, q.ns2, q.zeros, q.nzeros, NULL),
        LOWBIT_ERROR_INVALID_ARGUMENT, "qweight holds");
  FAILS(lowbit_qoq_quantize(w, N, K, 32, q.qweight, q.words, q.s1, q.ns1, NULL, q.ns2, q.zeros, q.nzeros, NULL),
        LOWBIT_ERROR_INVALID_ARGUMENT, "s2 is NULL");
  FAILS(lowbit_qoq_quantize(NULL, N, K, 32, q.qweight, q.words, q.s1, q.ns1, q.s2, q.ns2, q.zeros, q.nzeros, NULL),
        LOWBIT_ERROR_INVALID_ARGUMENT, "lowbit_qoq_quantize: w is NULL");
  q.s2[0] = 17; /* s2 must be 1..16 */
  FAILS(lowbit_qoq_upload(ctx, &q.h, NULL, &no_layer), LOWBIT_ERROR_INVALID_ARGUMENT, "qoq");
  q.h.zeros = NULL;
  FAILS(lowbit_qoq_upload(ctx, &q.h, NULL, &no_layer), LOWBIT_ERROR_INVALID_ARGUMENT, "zeros is NULL");
  lowbit_qoq_host pc_bad = pc.h;
  pc_bad.per_channel = false;
  pc_bad.group = -1;
  FAILS(lowbit_qoq_upload(ctx, &pc_bad, NULL, &no_layer), LOWBIT_ERROR_INVALID_ARGUMENT, "per_channel is false");
  pc_bad.per_channel = true;
  pc_bad.group = 32;
  FAILS(lowbit_qoq_upload(ctx, &pc_bad, NULL, &no_layer), LOWBIT_ERROR_INVALID_ARGUMENT, "per_channel layer with group 32");
  FAILS(lowbit_qoq_upload(ctx, NULL, NULL, &no_layer), LOWBIT_ERROR_INVALID_ARGUMENT, "lowbit_qoq_upload: host is NULL");
  FAILS(lowbit_qoq_upload(NULL, &pc.h, NULL, &no_layer), LOWBIT_ERROR_INVALID_ARGUMENT, "ctx is NULL");
  FAILS(lowbit_gemm_w4a8(ctx, NULL, layer, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "lowbit_gemm_w4a8: act is NULL");
  FAILS(lowbit_gemm_w4a8(ctx, act, NULL, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "layer is NULL");
  FAILS(lowbit_gemm_w4a8(ctx, act, layer, NULL, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "out is NULL");
  go.out = LOWBIT_DTYPE_I8;
  FAILS(lowbit_gemm_w4a8(ctx, act, layer, &go, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "float16 or float32, got int8");
  go.out = (lowbit_dtype)99;
  FAILS(lowbit_gemm_w4a8(ctx, act, layer, &go, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "unknown dtype 99");
  int64_t xs2[2] = {M, 32}; /* K 32 against a K = 64 layer */
  lowbit_buffer* x32 = NULL;
  OK(lowbit_buffer_view(xb, LOWBIT_DTYPE_F32, xs2, 2, &x32));
  lowbit_act_int8* act32 = NULL;
  OK(lowbit_quantize_activations_int8(ctx, x32, NULL, &act32));
  FAILS(lowbit_gemm_w4a8(ctx, act32, layer, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "K = 32");
  FAILS(lowbit_quantize_activations_int8(ctx, codes, NULL, &no_act), LOWBIT_ERROR_INVALID_ARGUMENT, "float16 or float32");
  ao.eps = -1.0f;
  FAILS(lowbit_quantize_activations_int8(ctx, xb, &ao, &no_act), LOWBIT_ERROR_INVALID_ARGUMENT, "eps");
  FAILS(lowbit_quantize_activations_int8(ctx, NULL, NULL, &no_act), LOWBIT_ERROR_INVALID_ARGUMENT, "x is NULL");
  FAILS(lowbit_act_quant_options_init(NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "options is NULL");
  FAILS(lowbit_act_int8_buffers(NULL, &none, NULL, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "act is NULL");
  FAILS(lowbit_act_int8_buffers(act, NULL, NULL, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "all NULL");
  CHECK(none == NULL && no_act == NULL && no_layer == NULL, "failed W4A8 calls leave *out alone");
  OK(lowbit_act_int8_destroy(NULL));
  OK(lowbit_w4a8_layer_destroy(NULL));

  free_qoq(&q);
  free_qoq(&pc);
  OK(lowbit_act_int8_destroy(act)); /* before its buffers: they stay valid */
  OK(lowbit_act_int8_destroy(act_rms));
  OK(lowbit_act_int8_destroy(act32));
  OK(lowbit_w4a8_layer_destroy(layer));
  OK(lowbit_w4a8_layer_destroy(layer_pc));
  lowbit_buffer* all[] = {xb, x32, rwb, codes, scales, sums, rcodes, rscales, y, ypc};
  destroy_buffers(all, sizeof all / sizeof all[0]);
}

/* ---- embedding: imports, recording, wrapped buffers, OpenCL events ----------------------------- */
/* Errors that need no application device: NULL handles, and the embedding calls on a CPU context. */
static void run_embed_errors(lowbit_context* cpu) {
  lowbit_context* none = NULL;
  lowbit_vulkan_import vi;
  OK(lowbit_vulkan_import_init(&vi));
  CHECK(vi.instance == NULL && vi.enabled_extension_count == 0, "lowbit_vulkan_import_init zeroes");
  FAILS(lowbit_context_import_vulkan(NULL, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT,
        "lowbit_context_import_vulkan: app is NULL");
  FAILS(lowbit_context_import_vulkan(&vi, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "app->instance is NULL");
  FAILS(lowbit_context_import_vulkan(&vi, NULL, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "out is NULL");
  lowbit_opencl_import ci = {NULL, NULL, NULL};
  FAILS(lowbit_context_import_opencl(NULL, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT,
        "lowbit_context_import_opencl: app is NULL");
  FAILS(lowbit_context_import_opencl(&ci, NULL, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "app->context is NULL");
  CHECK(none == NULL, "failed imports leave *out alone");

  lowbit_recording* rec = NULL;
  int dummy = 0;
  FAILS(lowbit_record_into(cpu, NULL, &rec), LOWBIT_ERROR_INVALID_ARGUMENT, "command_buffer is NULL");
  FAILS(lowbit_record_into(NULL, &dummy, &rec), LOWBIT_ERROR_INVALID_ARGUMENT, "lowbit_record_into: ctx is NULL");
  FAILS(lowbit_record_into(cpu, &dummy, &rec), LOWBIT_ERROR_UNSUPPORTED, "Vulkan");
  CHECK(rec == NULL, "failed record_into leaves *out alone");
  FAILS(lowbit_recording_end(NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "lowbit_recording_end: recording is NULL");
  OK(lowbit_recording_destroy(NULL));

  int64_t shape[1] = {16};
  lowbit_buffer *b = NULL, *nob = NULL;
  FAILS(lowbit_buffer_wrap_vulkan(cpu, 0x1234, 0, 64, LOWBIT_VK_USAGE_STORAGE, LOWBIT_DTYPE_F32, shape, 1, &nob),
        LOWBIT_ERROR_UNSUPPORTED, "wrap_vulkan_buffer");
  FAILS(lowbit_buffer_wrap_vulkan(cpu, 0x1234, 0, 64, 0x400, LOWBIT_DTYPE_F32, shape, 1, &nob),
        LOWBIT_ERROR_INVALID_ARGUMENT, "unknown usage bits 1024");
  FAILS(lowbit_buffer_wrap_vulkan(cpu, 0x1234, 0, 64, LOWBIT_VK_USAGE_STORAGE, (lowbit_dtype)-1, shape, 1, &nob),
        LOWBIT_ERROR_INVALID_ARGUMENT, "unknown dtype -1");
  FAILS(lowbit_buffer_wrap_opencl(cpu, NULL, 0, LOWBIT_DTYPE_F32, shape, 1, &nob), LOWBIT_ERROR_INVALID_ARGUMENT,
        "lowbit_buffer_wrap_opencl: mem is NULL");
  FAILS(lowbit_buffer_wrap_opencl(cpu, &dummy, 0, LOWBIT_DTYPE_F32, shape, 1, &nob), LOWBIT_ERROR_UNSUPPORTED,
        "wrap_opencl_buffer");
  CHECK(nob == NULL, "failed wraps leave *out alone");
  OK(lowbit_buffer_alloc(cpu, LOWBIT_DTYPE_F32, shape, 1, &b));
  lowbit_vulkan_buffer_ref ref;
  void* mem = NULL;
  FAILS(lowbit_buffer_vulkan(cpu, b, &ref), LOWBIT_ERROR_UNSUPPORTED, "lowbit_buffer_vulkan: the context runs on");
  FAILS(lowbit_buffer_vulkan(cpu, NULL, &ref), LOWBIT_ERROR_INVALID_ARGUMENT, "buffer is NULL");
  FAILS(lowbit_buffer_opencl(cpu, b, &mem), LOWBIT_ERROR_UNSUPPORTED, "not OpenCL");
  FAILS(lowbit_buffer_opencl(cpu, b, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "out is NULL");
  FAILS(lowbit_opencl_wait_for(cpu, NULL, 2), LOWBIT_ERROR_INVALID_ARGUMENT, "events is NULL with n = 2");
  void* events[2] = {&dummy, NULL};
  FAILS(lowbit_opencl_wait_for(cpu, events, 2), LOWBIT_ERROR_INVALID_ARGUMENT, "events[1] is NULL");
  FAILS(lowbit_opencl_wait_for(cpu, events, 1), LOWBIT_ERROR_UNSUPPORTED, "opencl_wait_for");
  FAILS(lowbit_opencl_last_event(cpu, &mem), LOWBIT_ERROR_UNSUPPORTED, "opencl_last_event");
  FAILS(lowbit_opencl_last_event(NULL, &mem), LOWBIT_ERROR_INVALID_ARGUMENT, "ctx is NULL");
  CHECK(mem == NULL, "failed calls leave *out alone");
  OK(lowbit_buffer_destroy(b));
}

/* What an engine runs through lowbit on its own device: x (its buffer, F32 [M, K]) -> int8 activations ->
 * W4A8 GEMM (F32) -> copied into its buffer y [M, N]. Must equal the CPU backend's r->w4a8. Returns the
 * layer (uploaded before any recording) for the caller to destroy. */
static lowbit_w4a8_layer* engine_layer(lowbit_context* ctx, const float* w) {
  qoq_arrays q = make_qoq(w, 32);
  lowbit_w4a8_layer* layer = NULL;
  OK(lowbit_qoq_upload(ctx, &q.h, NULL, &layer));
  free_qoq(&q);
  return layer;
}

static void engine_ops(lowbit_context* ctx, lowbit_buffer* x, lowbit_w4a8_layer* layer, lowbit_buffer* y) {
  lowbit_act_int8* act = NULL;
  OK(lowbit_quantize_activations_int8(ctx, x, NULL, &act));
  lowbit_gemm_options go;
  OK(lowbit_gemm_options_init(&go));
  go.out = LOWBIT_DTYPE_F32;
  lowbit_buffer* r = NULL;
  OK(lowbit_gemm_w4a8(ctx, act, layer, &go, &r));
  OK(lowbit_buffer_copy(ctx, r, y));
  OK(lowbit_buffer_destroy(r));
  OK(lowbit_act_int8_destroy(act));
}

#ifdef LOWBIT_TEST_VULKAN
/* A minimal Vulkan application: instance, device with one compute queue and 8/16-bit storage, two
 * host-visible buffers; lowbit imports it and records into its command buffer. */
static bool vk_ok(VkResult r, const char* what) {
  CHECK(r == VK_SUCCESS, "%s failed: %d", what, (int)r);
  return r == VK_SUCCESS;
}

typedef struct app_buffer {
  VkBuffer buffer;
  VkDeviceMemory memory;
  void* mapped;
} app_buffer;

static bool app_buffer_create(VkPhysicalDevice pd, VkDevice dev, VkDeviceSize bytes, app_buffer* b) {
  VkBufferCreateInfo bi = {0};
  bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
  bi.size = bytes;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT;
  if (!vk_ok(vkCreateBuffer(dev, &bi, NULL, &b->buffer), "vkCreateBuffer")) return false;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(dev, b->buffer, &req);
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(pd, &mp);
  const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  uint32_t type = UINT32_MAX;
  for (uint32_t i = 0; i < mp.memoryTypeCount && type == UINT32_MAX; ++i)
    if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) type = i;
  CHECK(type != UINT32_MAX, "no host-visible coherent memory");
  VkMemoryAllocateInfo mi = {0};
  mi.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
  mi.allocationSize = req.size;
  mi.memoryTypeIndex = type;
  return type != UINT32_MAX && vk_ok(vkAllocateMemory(dev, &mi, NULL, &b->memory), "vkAllocateMemory") &&
         vk_ok(vkBindBufferMemory(dev, b->buffer, b->memory, 0), "vkBindBufferMemory") &&
         vk_ok(vkMapMemory(dev, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped), "vkMapMemory");
}

static void run_import_vulkan(const results* cpu) {
  VkApplicationInfo app = {0};
  app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
  app.pApplicationName = "test_c_api";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo ii = {0};
  ii.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
  ii.pApplicationInfo = &app;
  VkInstance inst = VK_NULL_HANDLE;
  if (!vk_ok(vkCreateInstance(&ii, NULL, &inst), "vkCreateInstance")) return;
  uint32_t n = 0;
  vkEnumeratePhysicalDevices(inst, &n, NULL);
  VkPhysicalDevice pds[8];
  if (n > 8) n = 8;
  vkEnumeratePhysicalDevices(inst, &n, pds);
  VkPhysicalDevice pd = VK_NULL_HANDLE;
  uint32_t family = 0;
  for (uint32_t i = 0; i < n && !pd; ++i) {
    VkQueueFamilyProperties fams[16];
    uint32_t nf = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(pds[i], &nf, fams);
    for (uint32_t f = 0; f < nf && !pd; ++f)
      if (fams[f].queueFlags & VK_QUEUE_COMPUTE_BIT) pd = pds[i], family = f;
  }
  CHECK(pd != VK_NULL_HANDLE, "no Vulkan device with a compute queue");
  if (!pd) {
    vkDestroyInstance(inst, NULL);
    return;
  }
  VkPhysicalDeviceVulkan12Features f12 = {0};
  f12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
  VkPhysicalDeviceVulkan11Features f11 = {0};
  f11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
  VkPhysicalDeviceFeatures2 features = {0};
  features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
  features.pNext = &f11;
  f11.pNext = &f12;
  f11.storageBuffer16BitAccess = VK_TRUE;
  f12.storageBuffer8BitAccess = VK_TRUE;
  float priority = 1.0f;
  VkDeviceQueueCreateInfo qi = {0};
  qi.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
  qi.queueFamilyIndex = family;
  qi.queueCount = 1;
  qi.pQueuePriorities = &priority;
  VkDeviceCreateInfo di = {0};
  di.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
  di.pNext = &features;
  di.queueCreateInfoCount = 1;
  di.pQueueCreateInfos = &qi;
  VkDevice dev = VK_NULL_HANDLE;
  if (!vk_ok(vkCreateDevice(pd, &di, NULL, &dev), "vkCreateDevice")) {
    vkDestroyInstance(inst, NULL);
    return;
  }
  VkQueue queue = VK_NULL_HANDLE;
  vkGetDeviceQueue(dev, family, 0, &queue);

  lowbit_vulkan_import vi;
  OK(lowbit_vulkan_import_init(&vi));
  vi.instance = inst;
  vi.physical_device = pd;
  vi.device = dev;
  vi.queue_family = family;
  vi.queue = queue;
  lowbit_context* ctx = NULL;
  FAILS(lowbit_context_import_vulkan(&vi, NULL, &ctx), LOWBIT_ERROR_INVALID_ARGUMENT, "enabled_features is NULL");
  vi.enabled_features = &features;
  vi.queue = NULL;
  FAILS(lowbit_context_import_vulkan(&vi, NULL, &ctx), LOWBIT_ERROR_INVALID_ARGUMENT, "app->queue is NULL");
  vi.queue = queue;
  f12.storageBuffer8BitAccess = VK_FALSE; /* what lowbit is told: 8-bit storage missing */
  FAILS(lowbit_context_import_vulkan(&vi, NULL, &ctx), LOWBIT_ERROR_UNSUPPORTED, "storageBuffer8BitAccess");
  f12.storageBuffer8BitAccess = VK_TRUE;
  CHECK(ctx == NULL, "failed imports leave *out alone");
  OK(lowbit_context_import_vulkan(&vi, NULL, &ctx));

  app_buffer xa = {0}, ya = {0}; /* zero: nothing to destroy yet */
  float x[M * K], w[N * K], y[M * N];
  w4a8_inputs(x, w);
  if (ctx && app_buffer_create(pd, dev, sizeof x, &xa) && app_buffer_create(pd, dev, sizeof y, &ya)) {
    memcpy(xa.mapped, x, sizeof x);
    memset(ya.mapped, 0, sizeof y);
    int64_t xs[2] = {M, K}, ys[2] = {M, N};
    const uint32_t usage = LOWBIT_VK_USAGE_STORAGE | LOWBIT_VK_USAGE_TRANSFER_SRC | LOWBIT_VK_USAGE_TRANSFER_DST;
    lowbit_buffer *xb = NULL, *yb = NULL, *nob = NULL;
    uint64_t xh = (uint64_t)(uintptr_t)xa.buffer, yh = (uint64_t)(uintptr_t)ya.buffer;
    FAILS(lowbit_buffer_wrap_vulkan(ctx, xh, 0, sizeof x, LOWBIT_VK_USAGE_TRANSFER_DST, LOWBIT_DTYPE_F32, xs, 2, &nob),
          LOWBIT_ERROR_INVALID_ARGUMENT, "");
    FAILS(lowbit_buffer_wrap_vulkan(ctx, 0, 0, sizeof x, usage, LOWBIT_DTYPE_F32, xs, 2, &nob),
          LOWBIT_ERROR_INVALID_ARGUMENT, "null");
    CHECK(nob == NULL, "failed wraps leave *out alone");
    OK(lowbit_buffer_wrap_vulkan(ctx, xh, 0, sizeof x, usage, LOWBIT_DTYPE_F32, xs, 2, &xb));
    OK(lowbit_buffer_wrap_vulkan(ctx, yh, 0, sizeof y, usage, LOWBIT_DTYPE_F32, ys, 2, &yb));
    lowbit_vulkan_buffer_ref ref = {0, 1, 0};
    OK(lowbit_buffer_vulkan(ctx, yb, &ref));
    CHECK(ref.buffer == yh && ref.offset == 0 && ref.range >= sizeof y, "lowbit_buffer_vulkan of a wrapped buffer");
    void* mem = NULL;
    FAILS(lowbit_buffer_opencl(ctx, yb, &mem), LOWBIT_ERROR_UNSUPPORTED, "not OpenCL");
    lowbit_w4a8_layer* layer = engine_layer(ctx, w);

    /* one command buffer of the application's, lowbit's ops recorded into it */
    VkCommandPoolCreateInfo pi = {0};
    pi.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pi.queueFamilyIndex = family;
    VkCommandPool pool = VK_NULL_HANDLE;
    vk_ok(vkCreateCommandPool(dev, &pi, NULL, &pool), "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {0};
    ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    ai.commandPool = pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    vk_ok(vkAllocateCommandBuffers(dev, &ai, &cmd), "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi = {0};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    vk_ok(vkBeginCommandBuffer(cmd, &bi), "vkBeginCommandBuffer");
    lowbit_recording *rec = NULL, *rec2 = NULL;
    OK(lowbit_record_into(ctx, cmd, &rec));
    lowbit_status twice = lowbit_record_into(ctx, cmd, &rec2); /* one recording open at a time */
    CHECK(twice != LOWBIT_OK && rec2 == NULL, "a second open recording: %s", lowbit_status_string(twice));
    FAILS(lowbit_wait(ctx), LOWBIT_ERROR_UNSUPPORTED, "wait"); /* nothing is waited for while recording */
    engine_ops(ctx, xb, layer, yb);
    OK(lowbit_recording_end(rec));
    FAILS(lowbit_recording_end(rec), LOWBIT_ERROR_INVALID_ARGUMENT, "already ended");
    VkMemoryBarrier mb = {0};
    mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    vk_ok(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
    VkFenceCreateInfo fi = {0};
    fi.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    VkFence fence = VK_NULL_HANDLE;
    vk_ok(vkCreateFence(dev, &fi, NULL, &fence), "vkCreateFence");
    VkSubmitInfo si = {0};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    vk_ok(vkQueueSubmit(queue, 1, &si, fence), "vkQueueSubmit");
    vk_ok(vkWaitForFences(dev, 1, &fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
    OK(lowbit_recording_destroy(rec)); /* only now: the recorded commands have run */
    memcpy(y, ya.mapped, sizeof y);
    CHECK(memcmp(y, cpu->w4a8, sizeof y) == 0, "imported Vulkan, recorded: gemm_w4a8 %g, CPU %g", y[0], cpu->w4a8[0]);

    /* after the recording, ops run on the application's queue again */
    memset(ya.mapped, 0, sizeof y);
    engine_ops(ctx, xb, layer, yb);
    OK(lowbit_wait(ctx));
    memcpy(y, ya.mapped, sizeof y);
    CHECK(memcmp(y, cpu->w4a8, sizeof y) == 0, "imported Vulkan, queued: gemm_w4a8 %g, CPU %g", y[0], cpu->w4a8[0]);
    vkDestroyFence(dev, fence, NULL);
    vkDestroyCommandPool(dev, pool, NULL);
    OK(lowbit_w4a8_layer_destroy(layer));
    OK(lowbit_buffer_destroy(xb));
    OK(lowbit_buffer_destroy(yb));
  }
  OK(lowbit_context_destroy(ctx)); /* lowbit's objects go; the device stays the application's */
  vkDeviceWaitIdle(dev);
  if (xa.buffer) vkDestroyBuffer(dev, xa.buffer, NULL);
  if (xa.memory) vkFreeMemory(dev, xa.memory, NULL);
  if (ya.buffer) vkDestroyBuffer(dev, ya.buffer, NULL);
  if (ya.memory) vkFreeMemory(dev, ya.memory, NULL);
  vkDestroyDevice(dev, NULL);
  vkDestroyInstance(inst, NULL);
}
#endif

#ifdef LOWBIT_TEST_OPENCL
/* A minimal OpenCL application: context, in-order queue, two buffers; lowbit imports it, waits for the
 * application's write event and hands back an event for its own work. */
static void run_import_opencl(const results* cpu) {
  cl_platform_id platforms[8];
  cl_uint np = 0;
  if (clGetPlatformIDs(8, platforms, &np) != CL_SUCCESS || np == 0) {
    CHECK(0, "no OpenCL platform");
    return;
  }
  cl_device_id device = NULL;
  for (cl_uint i = 0; i < np && !device; ++i)
    if (clGetDeviceIDs(platforms[i], CL_DEVICE_TYPE_ALL, 1, &device, NULL) != CL_SUCCESS) device = NULL;
  CHECK(device != NULL, "no OpenCL device");
  if (!device) return;
  cl_int err = 0;
  cl_context context = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
  CHECK(err == CL_SUCCESS, "clCreateContext: %d", (int)err);
  cl_command_queue queue = clCreateCommandQueue(context, device, 0, &err);
  CHECK(err == CL_SUCCESS, "clCreateCommandQueue: %d", (int)err);
  float x[M * K], w[N * K], y[M * N];
  w4a8_inputs(x, w);
  cl_mem xm = clCreateBuffer(context, CL_MEM_READ_WRITE, sizeof x, NULL, &err);
  cl_mem ym = clCreateBuffer(context, CL_MEM_READ_WRITE, sizeof y, NULL, &err);
  CHECK(err == CL_SUCCESS && xm && ym, "clCreateBuffer: %d", (int)err);

  lowbit_opencl_import ci = {context, device, NULL};
  lowbit_context* ctx = NULL;
  FAILS(lowbit_context_import_opencl(&ci, NULL, &ctx), LOWBIT_ERROR_INVALID_ARGUMENT, "app->queue is NULL");
  ci.queue = queue;
  lowbit_context_options o;
  OK(lowbit_context_options_init(&o));
  o.deterministic = true; /* the options apply to an imported context too */
  OK(lowbit_context_import_opencl(&ci, &o, &ctx));
  if (ctx && xm && ym) {
    bool det = false;
    OK(lowbit_context_deterministic(ctx, &det));
    CHECK(det, "an imported context takes the deterministic option");
    cl_event written = NULL;
    err = clEnqueueWriteBuffer(queue, xm, CL_FALSE, 0, sizeof x, x, 0, NULL, &written);
    CHECK(err == CL_SUCCESS, "clEnqueueWriteBuffer: %d", (int)err);
    int64_t xs[2] = {M, K}, ys[2] = {M, N};
    lowbit_buffer *xb = NULL, *yb = NULL;
    OK(lowbit_buffer_wrap_opencl(ctx, xm, 0, LOWBIT_DTYPE_F32, xs, 2, &xb));
    OK(lowbit_buffer_wrap_opencl(ctx, ym, 0, LOWBIT_DTYPE_F32, ys, 2, &yb));
    int64_t too_big[2] = {M, 2 * K};
    lowbit_buffer* nob = NULL;
    FAILS(lowbit_buffer_wrap_opencl(ctx, xm, 0, LOWBIT_DTYPE_F32, too_big, 2, &nob), LOWBIT_ERROR_INVALID_ARGUMENT, "");
    CHECK(nob == NULL, "a failed wrap leaves *out alone");
    void* mem = NULL;
    OK(lowbit_buffer_opencl(ctx, yb, &mem));
    CHECK(mem == (void*)ym, "lowbit_buffer_opencl of a buffer wrapped at offset 0 is the application's cl_mem");
    lowbit_vulkan_buffer_ref ref;
    FAILS(lowbit_buffer_vulkan(ctx, yb, &ref), LOWBIT_ERROR_UNSUPPORTED, "not Vulkan");
    lowbit_w4a8_layer* layer = engine_layer(ctx, w);
    void* wait[1] = {written};
    OK(lowbit_opencl_wait_for(ctx, wait, 1));
    engine_ops(ctx, xb, layer, yb);
    void* done = NULL;
    OK(lowbit_opencl_last_event(ctx, &done));
    CHECK(done != NULL, "lowbit_opencl_last_event gives an event");
    if (done) {
      cl_event ev = (cl_event)done;
      err = clEnqueueReadBuffer(queue, ym, CL_TRUE, 0, sizeof y, y, 1, &ev, NULL);
      CHECK(err == CL_SUCCESS, "clEnqueueReadBuffer: %d", (int)err);
      clReleaseEvent(ev);
      CHECK(memcmp(y, cpu->w4a8, sizeof y) == 0, "imported OpenCL: gemm_w4a8 %g, CPU %g", y[0], cpu->w4a8[0]);
    }
    clReleaseEvent(written);
    OK(lowbit_w4a8_layer_destroy(layer));
    OK(lowbit_buffer_destroy(xb));
    OK(lowbit_buffer_destroy(yb));
  }
  OK(lowbit_context_destroy(ctx));
  clReleaseMemObject(xm);
  clReleaseMemObject(ym);
  clReleaseCommandQueue(queue);
  clReleaseContext(context);
}
#endif

/* ---- the newer context options ---------------------------------------------------------------- */
enum { DN = 40, DK = 1100, DM = 64, DROW = 37 };

/* Deterministic mode: row DROW of a DM-row GEMM computed alone is bit-identical to the same row in the batch. */
static void run_deterministic(lowbit_context_options o) {
  o.deterministic = true;
  lowbit_context* ctx = NULL;
  OK(lowbit_context_create(&o, &ctx));
  if (!ctx) return;
  bool det = false;
  OK(lowbit_context_deterministic(ctx, &det));
  CHECK(det, "lowbit_context_deterministic after asking for it");
  float* x = malloc(sizeof(float) * DM * DK);
  float* w = malloc(sizeof(float) * DN * DK);
  /* full fp16 mantissas (not the 1/64 grid of value(), whose sums are exact in any order) */
  for (unsigned i = 0; i < DM * DK; ++i) x[i] = sinf((float)i * 0.37f);
  for (unsigned i = 0; i < DN * DK; ++i) w[i] = cosf((float)i * 0.91f) / 8.0f;
  int64_t xs[2] = {DM, DK}, ws[2] = {DN, DK}, rs[2] = {1, DK};
  lowbit_buffer* xb = upload_f16(ctx, x, xs, 2);
  lowbit_buffer* row = upload_f16(ctx, x + DROW * DK, rs, 2);
  lowbit_buffer* wb = upload_f16(ctx, w, ws, 2);
  lowbit_gemm_options go;
  OK(lowbit_gemm_options_init(&go));
  go.out = LOWBIT_DTYPE_F32;
  lowbit_buffer *yb = NULL, *yr = NULL;
  OK(lowbit_gemm_f16(ctx, xb, wb, NULL, &go, &yb));
  OK(lowbit_gemm_f16(ctx, row, wb, NULL, &go, &yr));
  float* batch = malloc(sizeof(float) * DM * DN);
  float alone[DN];
  download(ctx, yb, batch, sizeof(float) * DM * DN);
  download(ctx, yr, alone, sizeof alone);
  CHECK(memcmp(alone, batch + DROW * DN, sizeof alone) == 0, "deterministic: row %d alone (y[0] %.9g) differs from "
        "the batch of %d (%.9g)", DROW, alone[0], DM, batch[DROW * DN]);
  go.path = LOWBIT_GEMM_PATH_GEMV; /* deterministic mode refuses another reduction order */
  lowbit_buffer* none = NULL;
  lowbit_device_info info;
  OK(lowbit_context_device_info(ctx, &info));
  if (info.backend != LOWBIT_BACKEND_CPU)
    FAILS(lowbit_gemm_f16(ctx, row, wb, NULL, &go, &none), LOWBIT_ERROR_INVALID_ARGUMENT, "determin");
  FAILS(lowbit_context_deterministic(ctx, NULL), LOWBIT_ERROR_INVALID_ARGUMENT, "lowbit_context_deterministic: out is NULL");
  FAILS(lowbit_context_deterministic(NULL, &det), LOWBIT_ERROR_INVALID_ARGUMENT, "ctx is NULL");
  free(x);
  free(w);
  free(batch);
  lowbit_buffer* all[] = {xb, row, wb, yb, yr};
  destroy_buffers(all, sizeof all / sizeof all[0]);
  OK(lowbit_context_destroy(ctx));
}

/* A memory limit refuses a too-large allocation with OUT_OF_MEMORY, and the context stays usable; the
 * tuning database path is taken; the test-only lost-device injection makes every later call fail. */
static void run_limits(lowbit_context_options o, bool gpu) {
  o.device_memory_limit = 1u << 20;
  o.tuning_db = "/nonexistent-dir/lowbit-c-api-tuning.json"; /* missing: the lookup goes on without it */
  lowbit_context* ctx = NULL;
  OK(lowbit_context_create(&o, &ctx));
  if (!ctx) return;
  bool det = true;
  OK(lowbit_context_deterministic(ctx, &det));
  CHECK(!det || getenv("LOWBIT_DETERMINISTIC"), "deterministic is off by default");
  int64_t big[1] = {1 << 19}, small[2] = {M, K};
  lowbit_buffer *b = NULL, *none = NULL;
  FAILS(lowbit_buffer_alloc(ctx, LOWBIT_DTYPE_F32, big, 1, &none), LOWBIT_ERROR_OUT_OF_MEMORY,
        "1048576-byte device_memory_limit");
  CHECK(none == NULL, "a refused allocation leaves *out alone");
  float x[M * K], w[N * K];
  w4a8_inputs(x, w);
  OK(lowbit_buffer_upload(ctx, LOWBIT_DTYPE_F32, small, 2, x, sizeof x, &b)); /* still usable */
  lowbit_act_int8* act = NULL;
  OK(lowbit_quantize_activations_int8(ctx, b, NULL, &act));
  qoq_arrays q = make_qoq(w, 32);
  lowbit_w4a8_layer* layer = NULL;
  OK(lowbit_qoq_upload(ctx, &q.h, NULL, &layer));
  lowbit_buffer* y = NULL;
  OK(lowbit_gemm_w4a8(ctx, act, layer, NULL, &y));
  uint16_t yh[M * N];
  download(ctx, y, yh, sizeof yh);
  free_qoq(&q);
  OK(lowbit_w4a8_layer_destroy(layer));
  OK(lowbit_act_int8_destroy(act));
  OK(lowbit_buffer_destroy(y));
  OK(lowbit_buffer_destroy(b));
  OK(lowbit_context_destroy(ctx));

  if (!gpu) return;
  lowbit_context_options lost = o;
  lost.device_memory_limit = 0;
  lost.test_device_lost_at = 1; /* TEST ONLY: the first submit or wait fails as a lost device */
  OK(lowbit_context_create(&lost, &ctx));
  if (!ctx) return;
  b = NULL;
  act = NULL;
  y = NULL;
  /* an upload need not submit (host-visible memory): an op and its download do */
  lowbit_status s = lowbit_buffer_upload(ctx, LOWBIT_DTYPE_F32, small, 2, x, sizeof x, &b);
  if (s == LOWBIT_OK) s = lowbit_quantize_activations_int8(ctx, b, NULL, &act);
  if (s == LOWBIT_OK) s = lowbit_act_int8_buffers(act, NULL, &y, NULL);
  float scales[M];
  if (s == LOWBIT_OK) s = lowbit_buffer_download(ctx, y, scales, sizeof scales);
  CHECK(s == LOWBIT_ERROR_DEVICE_LOST, "the first submit or wait: %s (%s)", lowbit_status_string(s), lowbit_last_error());
  FAILS(lowbit_wait(ctx), LOWBIT_ERROR_DEVICE_LOST, "");
  FAILS(lowbit_buffer_alloc(ctx, LOWBIT_DTYPE_F32, small, 2, &none), LOWBIT_ERROR_DEVICE_LOST, "");
  OK(lowbit_buffer_destroy(y));
  OK(lowbit_act_int8_destroy(act));
  OK(lowbit_buffer_destroy(b));
  OK(lowbit_context_destroy(ctx)); /* destroying a lost context is clean */
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
  /* W4A8 and its activation quantization are bit-identical on every backend */
  CHECK(memcmp(r->act_codes, cpu->act_codes, sizeof r->act_codes) == 0, "%s: int8 activation codes differ", name);
  CHECK(memcmp(r->act_scales, cpu->act_scales, sizeof r->act_scales) == 0, "%s: activation scales differ", name);
  CHECK(memcmp(r->act_sums, cpu->act_sums, sizeof r->act_sums) == 0, "%s: activation row sums differ", name);
  CHECK(memcmp(r->rms_codes, cpu->rms_codes, sizeof r->rms_codes) == 0, "%s: RMSNorm int8 codes differ", name);
  CHECK(memcmp(r->rms_scales, cpu->rms_scales, sizeof r->rms_scales) == 0, "%s: RMSNorm scales differ", name);
  CHECK(memcmp(r->w4a8, cpu->w4a8, sizeof r->w4a8) == 0, "%s: gemm_w4a8 (g32, F32) differs: %g, CPU %g", name,
        r->w4a8[0], cpu->w4a8[0]);
  CHECK(memcmp(r->w4a8_pc, cpu->w4a8_pc, sizeof r->w4a8_pc) == 0, "%s: gemm_w4a8 (per channel, F16) differs", name);
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

  /* W4A8 handles of another context */
  float x[M * K], w[N * K];
  w4a8_inputs(x, w);
  int64_t xs[2] = {M, K}, ks[1] = {K};
  lowbit_buffer *xo = NULL, *rw_mine = NULL;
  OK(lowbit_buffer_upload(other, LOWBIT_DTYPE_F32, xs, 2, x, sizeof x, &xo));
  OK(lowbit_buffer_upload(cpu, LOWBIT_DTYPE_F32, ks, 1, x, K * sizeof(float), &rw_mine));
  lowbit_act_int8 *act_other = NULL, *no_act = NULL;
  OK(lowbit_quantize_activations_int8(other, xo, NULL, &act_other));
  lowbit_act_quant_options ao;
  OK(lowbit_act_quant_options_init(&ao));
  ao.rms_weight = rw_mine;
  FAILS(lowbit_quantize_activations_int8(other, xo, &ao, &no_act), LOWBIT_ERROR_INVALID_ARGUMENT,
        "lowbit_quantize_activations_int8: rms_weight belongs to another context");
  FAILS(lowbit_quantize_activations_int8(cpu, xo, NULL, &no_act), LOWBIT_ERROR_INVALID_ARGUMENT,
        "x belongs to another context");
  qoq_arrays q = make_qoq(w, 32);
  lowbit_w4a8_layer* layer_other = NULL;
  OK(lowbit_qoq_upload(other, &q.h, NULL, &layer_other));
  free_qoq(&q);
  FAILS(lowbit_gemm_w4a8(cpu, act_other, layer_other, NULL, &y), LOWBIT_ERROR_INVALID_ARGUMENT,
        "lowbit_gemm_w4a8: act belongs to another context");
  lowbit_act_int8* act_mine = NULL;
  lowbit_buffer* xm = NULL;
  OK(lowbit_buffer_upload(cpu, LOWBIT_DTYPE_F32, xs, 2, x, sizeof x, &xm));
  OK(lowbit_quantize_activations_int8(cpu, xm, NULL, &act_mine));
  FAILS(lowbit_gemm_w4a8(cpu, act_mine, layer_other, NULL, &y), LOWBIT_ERROR_INVALID_ARGUMENT,
        "layer belongs to another context");
  lowbit_vulkan_buffer_ref ref;
  void* mem = NULL;
  FAILS(lowbit_buffer_vulkan(cpu, xo, &ref), LOWBIT_ERROR_INVALID_ARGUMENT, "buffer belongs to another context");
  FAILS(lowbit_buffer_opencl(cpu, xo, &mem), LOWBIT_ERROR_INVALID_ARGUMENT, "buffer belongs to another context");
  CHECK(y == NULL && no_act == NULL, "no result on error");
  /* handles keep their context's device: destroy the context first, then release what it made */
  OK(lowbit_context_destroy(other));
  OK(lowbit_act_int8_destroy(act_other));
  OK(lowbit_w4a8_layer_destroy(layer_other));
  OK(lowbit_act_int8_destroy(act_mine));
  lowbit_buffer* all[] = {xo, rw_mine, xm, mine, theirs};
  destroy_buffers(all, sizeof all / sizeof all[0]);
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
  run_errors(cpu, cpu2); /* destroys cpu2 before the handles it made */
  run_buffers(cpu);
  run_convert(cpu, &cpu_results);
  run_gemm(cpu, &cpu_results);
  run_attention(cpu, &cpu_results);
  run_w4a8(cpu, &cpu_results);
  run_embed_errors(cpu);
  OK(lowbit_context_destroy(cpu));
  run_deterministic(o);
  run_limits(o, false);

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
    CHECK(info.vendor_id != 0, "vendor id of %s (VkPhysicalDeviceProperties::vendorID / CL_DEVICE_VENDOR_ID)", gpus[i].name);
    printf("%s: %s (subgroup %u, fp16 %d)\n", gpus[i].name, info.name, info.subgroup_size, (int)info.fp16);
    memset(&gpu_results, 0, sizeof gpu_results);
    run_buffers(ctx);
    run_convert(ctx, &gpu_results);
    run_gemm(ctx, &gpu_results);
    run_attention(ctx, &gpu_results);
    run_w4a8(ctx, &gpu_results);
    OK(lowbit_context_destroy(ctx));
#ifdef LOWBIT_TEST_VULKAN
    if (gpus[i].backend == LOWBIT_BACKEND_VULKAN) run_import_vulkan(&cpu_results);
#endif
#ifdef LOWBIT_TEST_OPENCL
    if (gpus[i].backend == LOWBIT_BACKEND_OPENCL) run_import_opencl(&cpu_results);
#endif
    run_deterministic(o);
    run_limits(o, true);
    compare(gpus[i].name, &gpu_results, &cpu_results);
  }
  uint64_t messages = 0;
  OK(lowbit_validation_message_count(&messages));
  CHECK(messages == 0, "%llu Vulkan validation messages", (unsigned long long)messages);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("all C API checks passed\n");
  return failures ? 1 : 0;
}
