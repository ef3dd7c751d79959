/* consumer.c — a C11 program built against an installed lowbit (CMake or pkg-config): on the backend argv[1]
 * names, an fp16 GEMM whose result is known and a bad call's error through the C API. Exit 0 when right,
 * 77 when the backend is absent, 1 otherwise. */
#include <lowbit/lowbit.h>

#include <stdio.h>
#include <string.h>

static int fail(const char* what) {
  printf("consumer (C): %s: %s\n", what, lowbit_last_error());
  return 1;
}

int main(int argc, char** argv) {
  lowbit_context_options o;
  lowbit_context_options_init(&o);
  const char* names[] = {"auto", "vulkan", "opencl", "cpu"};
  for (int i = 0; i < 4; ++i)
    if (argc > 1 && strcmp(argv[1], names[i]) == 0) o.backend = (lowbit_backend)i;
  lowbit_context* ctx = NULL;
  lowbit_status s = lowbit_context_create(&o, &ctx);
  if (s == LOWBIT_ERROR_NOT_FOUND || s == LOWBIT_ERROR_UNSUPPORTED) return printf("%s\n", lowbit_last_error()), 77;
  if (s != LOWBIT_OK) return fail("context");

  uint16_t a[32], w[4 * 32];
  for (int i = 0; i < 32; ++i) a[i] = 0x3800;     /* fp16 0.5 */
  for (int i = 0; i < 4 * 32; ++i) w[i] = 0x3C00; /* fp16 1.0 */
  int64_t as[2] = {1, 32}, ws[2] = {4, 32};
  lowbit_buffer *ab = NULL, *wb = NULL, *y = NULL;
  if (lowbit_buffer_upload(ctx, LOWBIT_DTYPE_F16, as, 2, a, sizeof a, &ab) != LOWBIT_OK) return fail("upload");
  if (lowbit_buffer_upload(ctx, LOWBIT_DTYPE_F16, ws, 2, w, sizeof w, &wb) != LOWBIT_OK) return fail("upload");
  lowbit_gemm_options go;
  lowbit_gemm_options_init(&go);
  go.out = LOWBIT_DTYPE_F32;
  if (lowbit_gemm_f16(ctx, ab, wb, NULL, &go, &y) != LOWBIT_OK) return fail("gemm_f16");
  float out[4];
  if (lowbit_buffer_download(ctx, y, out, sizeof out) != LOWBIT_OK) return fail("download");
  for (int i = 0; i < 4; ++i)
    if (out[i] != 16.0f) return printf("consumer (C): gemm_f16 gave %g, expected 16\n", out[i]), 1;
  if (lowbit_gemm_f16(ctx, ab, y, NULL, NULL, &y) != LOWBIT_ERROR_INVALID_ARGUMENT || !*lowbit_last_error())
    return printf("consumer (C): a GEMM with F32 weights did not fail\n"), 1;

  lowbit_device_info info;
  lowbit_context_device_info(ctx, &info);
  printf("consumer (C): lowbit %s, %s ok\n", lowbit_version(), info.name);
  lowbit_buffer_destroy(y);
  lowbit_buffer_destroy(wb);
  lowbit_buffer_destroy(ab);
  lowbit_context_destroy(ctx);
  return 0;
}
