#!/usr/bin/env python3
"""test_c_api_ctypes.py — the C API through Python ctypes on the shared library (liblowbit.so): an fp16
GEMM checked against numpy, a W4A8 GEMM (int8 activations x QoQ weights: close to numpy, bit-identical on
every backend), a quantize / dequantize round trip (MXFP8 E4M3) and errors (a bad shape and
a NULL handle give a status and a message). Runs on the CPU backend and on every GPU backend present;
a GPU backend that is absent is skipped unless $LOWBIT_REQUIRE / $CI requires it.

usage: test_c_api_ctypes.py path/to/liblowbit.so
"""
import ctypes as C
import os
import sys

import numpy as np

OK, INVALID_ARGUMENT, NOT_FOUND, UNSUPPORTED = 0, 1, 3, 2
BACKENDS = {"cpu": 3, "vulkan": 1, "opencl": 2}
DTYPE_F32, DTYPE_F16 = 0, 1
FORMAT_MXFP8_E4M3 = 4


class ContextOptions(C.Structure):
    _fields_ = [("backend", C.c_int), ("device", C.c_char_p), ("cache_dir", C.c_char_p),
                ("timeout_ms", C.c_uint32), ("staging_limit", C.c_uint64), ("device_memory_limit", C.c_uint64),
                ("deterministic", C.c_bool), ("tuning_db", C.c_char_p), ("test_device_lost_at", C.c_uint64)]


class QoqHost(C.Structure):
    _fields_ = [("n", C.c_int64), ("k", C.c_int64), ("group", C.c_int32), ("per_channel", C.c_bool),
                ("qweight", C.c_void_p), ("s1", C.c_void_p), ("s2", C.c_void_p), ("zeros", C.c_void_p)]


class GemmOptions(C.Structure):
    _fields_ = [("path", C.c_int), ("out", C.c_int), ("split_k", C.c_int32), ("stages", C.c_int32)]


def load(path):
    lib = C.CDLL(path)
    P = C.c_void_p
    sigs = {
        "lowbit_version": ([], C.c_char_p),
        "lowbit_last_error": ([], C.c_char_p),
        "lowbit_context_options_init": ([C.POINTER(ContextOptions)], C.c_int),
        "lowbit_context_create": ([C.POINTER(ContextOptions), C.POINTER(P)], C.c_int),
        "lowbit_context_destroy": ([P], C.c_int),
        "lowbit_buffer_upload": ([P, C.c_int, C.POINTER(C.c_int64), C.c_size_t, P, C.c_size_t, C.POINTER(P)], C.c_int),
        "lowbit_buffer_download": ([P, P, P, C.c_size_t], C.c_int),
        "lowbit_buffer_destroy": ([P], C.c_int),
        "lowbit_gemm_options_init": ([C.POINTER(GemmOptions)], C.c_int),
        "lowbit_gemm_f16": ([P, P, P, P, C.POINTER(GemmOptions), C.POINTER(P)], C.c_int),
        "lowbit_quantize": ([P, P, C.c_int, P, C.POINTER(P)], C.c_int),
        "lowbit_dequantize": ([P, P, C.c_int, C.POINTER(P)], C.c_int),
        "lowbit_qtensor_destroy": ([P], C.c_int),
        "lowbit_validation_message_count": ([C.POINTER(C.c_uint64)], C.c_int),
        "lowbit_quantize_activations_int8": ([P, P, P, C.POINTER(P)], C.c_int),
        "lowbit_act_int8_destroy": ([P], C.c_int),
        "lowbit_qoq_sizes": ([C.c_int64, C.c_int64, C.c_int32, C.POINTER(C.c_int32), C.POINTER(C.c_bool)]
                             + [C.POINTER(C.c_size_t)] * 4, C.c_int),
        "lowbit_qoq_quantize": ([P, C.c_int64, C.c_int64, C.c_int32] + [P, C.c_size_t] * 4 + [P], C.c_int),
        "lowbit_qoq_upload": ([P, C.POINTER(QoqHost), P, C.POINTER(P)], C.c_int),
        "lowbit_w4a8_layer_destroy": ([P], C.c_int),
        "lowbit_gemm_w4a8": ([P, P, P, C.POINTER(GemmOptions), C.POINTER(P)], C.c_int),
    }
    for name, (args, res) in sigs.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


class Api:
    def __init__(self, lib):
        self.lib = lib

    def check(self, status, what):
        if status != OK:
            raise AssertionError(f"{what}: status {status}: {self.lib.lowbit_last_error().decode()}")

    def upload(self, ctx, dtype, arr):
        arr = np.ascontiguousarray(arr)
        shape = (C.c_int64 * arr.ndim)(*arr.shape)
        out = C.c_void_p()
        self.check(self.lib.lowbit_buffer_upload(ctx, dtype, shape, arr.ndim, arr.ctypes.data, arr.nbytes,
                                                 C.byref(out)), "upload")
        return out

    def download(self, ctx, buf, dtype, shape):
        arr = np.empty(shape, dtype)
        self.check(self.lib.lowbit_buffer_download(ctx, buf, arr.ctypes.data, arr.nbytes), "download")
        return arr


W4A8_RESULTS = {}  # backend -> gemm_w4a8 output: bit-identical across backends


def required(name):
    ci = os.environ.get("CI", "")
    if ci and ci not in ("0", "false"):
        return True
    return name in os.environ.get("LOWBIT_REQUIRE", "")


def run(api, ctx, name):
    lib = api.lib
    rng = np.random.default_rng(7)
    m, n, k = 5, 24, 96
    x = (rng.standard_normal((m, k)) / 4).astype(np.float16)
    w = (rng.standard_normal((n, k)) / 4).astype(np.float16)
    bias = rng.standard_normal(n).astype(np.float32)
    xb, wb, bb = api.upload(ctx, DTYPE_F16, x), api.upload(ctx, DTYPE_F16, w), api.upload(ctx, DTYPE_F32, bias)
    opts = GemmOptions()
    api.check(lib.lowbit_gemm_options_init(C.byref(opts)), "gemm options")
    opts.out = DTYPE_F32
    y = C.c_void_p()
    api.check(lib.lowbit_gemm_f16(ctx, xb, wb, bb, C.byref(opts), C.byref(y)), "gemm_f16")
    got = api.download(ctx, y, np.float32, (m, n))
    want = x.astype(np.float32) @ w.astype(np.float32).T + bias
    err = np.abs(got - want).max()
    assert err < 1e-3, f"{name}: gemm_f16 differs from numpy by {err}"

    # W4A8: per-token int8 activations x QoQ weights (group 32), F32 out
    xf = x.astype(np.float32)
    xfb = api.upload(ctx, DTYPE_F32, xf)
    act = C.c_void_p()
    api.check(lib.lowbit_quantize_activations_int8(ctx, xfb, None, C.byref(act)), "quantize_activations_int8")
    group, pc = C.c_int32(), C.c_bool()
    sizes = [C.c_size_t() for _ in range(4)]
    api.check(lib.lowbit_qoq_sizes(n, k, 32, C.byref(group), C.byref(pc), *[C.byref(z) for z in sizes]), "qoq_sizes")
    wf = np.ascontiguousarray(w.astype(np.float32))
    arrays = [np.zeros(sizes[0].value, np.uint32), np.zeros(sizes[1].value, np.uint16),
              np.zeros(sizes[2].value, np.uint8), np.zeros(sizes[3].value, np.uint8)]
    flat = []
    for a in arrays:
        flat += [a.ctypes.data, a.size]
    api.check(lib.lowbit_qoq_quantize(wf.ctypes.data, n, k, 32, *flat, None), "qoq_quantize")
    host = QoqHost(n, k, group.value, pc.value, *[a.ctypes.data for a in arrays])
    layer = C.c_void_p()
    api.check(lib.lowbit_qoq_upload(ctx, C.byref(host), None, C.byref(layer)), "qoq_upload")
    y8 = C.c_void_p()
    api.check(lib.lowbit_gemm_w4a8(ctx, act, layer, C.byref(opts), C.byref(y8)), "gemm_w4a8")
    got8 = api.download(ctx, y8, np.float32, (m, n))
    ref8 = xf @ wf.T
    err8 = np.abs(got8 - ref8).max() / np.abs(ref8).max()
    assert err8 < 0.2, f"{name}: gemm_w4a8 differs from numpy by {err8} of max |y|"
    W4A8_RESULTS[name] = got8
    if name != "cpu" and "cpu" in W4A8_RESULTS:
        assert np.array_equal(got8.view(np.uint32), W4A8_RESULTS["cpu"].view(np.uint32)), f"{name}: W4A8 != CPU"
    for b in (xfb, y8):
        api.check(lib.lowbit_buffer_destroy(b), "destroy")
    api.check(lib.lowbit_act_int8_destroy(act), "destroy act")
    api.check(lib.lowbit_w4a8_layer_destroy(layer), "destroy layer")

    # quantize / dequantize round trip: MXFP8 E4M3 (3 mantissa bits; the block amax may saturate from < 512 to 448
    # scaled units) stays within amax / 8 of each value
    v = rng.standard_normal((4, 64)).astype(np.float32)
    vb = api.upload(ctx, DTYPE_F32, v)
    q = C.c_void_p()
    api.check(lib.lowbit_quantize(ctx, vb, FORMAT_MXFP8_E4M3, None, C.byref(q)), "quantize")
    back = C.c_void_p()
    api.check(lib.lowbit_dequantize(ctx, q, DTYPE_F32, C.byref(back)), "dequantize")
    rt = api.download(ctx, back, np.float32, v.shape)
    amax = np.abs(v.reshape(4, 2, 32)).max(axis=2, keepdims=True)
    bound = np.broadcast_to(amax / 8, (4, 2, 32)).reshape(4, 64)
    assert np.all(np.abs(rt - v) <= bound), f"{name}: MXFP8 round trip error {np.abs(rt - v).max()}"

    # errors: a GEMM whose K does not match, a NULL handle; neither writes the result
    bad = C.c_void_p()
    status = lib.lowbit_gemm_f16(ctx, xb, vb, None, None, C.byref(bad))
    msg = lib.lowbit_last_error().decode()
    assert status == INVALID_ARGUMENT and "gemm" in msg and bad.value is None, (status, msg)
    status = lib.lowbit_buffer_download(ctx, None, None, 0)
    msg = lib.lowbit_last_error().decode()
    assert status == INVALID_ARGUMENT and "buffer is NULL" in msg, (status, msg)

    for b in (xb, wb, bb, y, vb, back):
        api.check(lib.lowbit_buffer_destroy(b), "destroy")
    api.check(lib.lowbit_qtensor_destroy(q), "destroy q")
    print(f"{name}: gemm_f16 max error {err:.2e}, gemm_w4a8 relative error {err8:.2e}, MXFP8 round trip and errors ok")


def main():
    lib = load(sys.argv[1])
    api = Api(lib)
    print("lowbit", lib.lowbit_version().decode())
    for name, backend in BACKENDS.items():
        opts = ContextOptions()
        api.check(lib.lowbit_context_options_init(C.byref(opts)), "options")
        opts.backend = backend
        ctx = C.c_void_p()
        status = lib.lowbit_context_create(C.byref(opts), C.byref(ctx))
        if status in (NOT_FOUND, UNSUPPORTED) and name != "cpu" and not required(name):
            print(f"[lowbit tests] SKIPPED: backend {name} ({lib.lowbit_last_error().decode()})", file=sys.stderr)
            continue
        api.check(status, f"create {name} context")
        try:
            run(api, ctx, name)
        finally:
            api.check(lib.lowbit_context_destroy(ctx), "destroy context")
    count = C.c_uint64()
    api.check(lib.lowbit_validation_message_count(C.byref(count)), "validation count")
    assert count.value == 0, f"{count.value} Vulkan validation messages"


if __name__ == "__main__":
    main()
