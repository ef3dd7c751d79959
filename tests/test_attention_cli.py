#!/usr/bin/env python3
"""test_attention_cli.py — end-to-end tests of `lowbit run attention` on the CPU backend and on every
GPU backend `lowbit devices --json` reports: .npy inputs (float32 and float16), decode (Sq = 1) and
prefill (causal, sliding window, softcap, custom scale, non-causal), every KV format and GQA. O is
checked against a NumPy fp64 attention over K/V quantized here exactly as lowbit/attention.hpp pins it
(int8/int4 asymmetric per (token, head) with fp16 scale/zero, FP8 with the CLI's per-head scale
amax / max), so the only difference left is fp32 accumulation. Bad inputs exit 2 with one
`lowbit: error:` line and leave no output file.

Usage: python3 tests/test_attention_cli.py path/to/lowbit   (prints "N passed, M failed"; exit 1 on failure)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from cli_harness import backends, expect_error, main, np, run, test  # noqa: E402


# ---- the pinned KV quantization in NumPy (float32 ops are IEEE, casts to float16 round to even) -----
def fp8_table(fmt):
    """Values of the non-negative finite codes, ascending (code = index)."""
    mb, bias, top = (3, 7, 0x7E) if fmt == "e4m3" else (2, 15, 0x7B)
    vals = []
    for c in range(top + 1):
        e, m = c >> mb, c & ((1 << mb) - 1)
        vals.append(m * 2.0 ** (1 - bias - mb) if e == 0 else (1 + m / 2**mb) * 2.0 ** (e - bias))
    return np.array(vals)


def fp8_round(x, fmt):
    """x (float32) to the nearest FP8 value, ties to the even code, saturating."""
    t = fp8_table(fmt)
    a = np.minimum(np.abs(x.astype(np.float64)), t[-1])
    hi = np.clip(np.searchsorted(t, a), 0, len(t) - 1)
    lo = np.maximum(hi - 1, 0)
    dlo, dhi = a - t[lo], t[hi] - a
    pick = np.where(dlo < dhi, lo, np.where(dhi < dlo, hi, np.where(lo % 2 == 0, lo, hi)))
    return np.sign(x) * t[pick]


def quantize_kv(x16, fmt, scales=None):
    """Dequantized values of K or V [B, S, H, D] (float16) after the cache's quantization."""
    x = x16.astype(np.float32)
    if fmt == "fp16":
        return x.astype(np.float64)
    if fmt in ("e4m3", "e5m2"):
        s = scales.astype(np.float32)[None, None, :, None]
        return fp8_round((x / s).astype(np.float32), fmt) * s.astype(np.float64)
    L = np.float32(255 if fmt == "int8" else 15)
    mn, mx = x.min(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)
    zero = mn.astype(np.float16).astype(np.float32)
    scale = ((mx - mn).astype(np.float32) / L).astype(np.float16).astype(np.float32)
    scale = np.where(scale == 0, np.float32(1), scale)
    q = np.clip(np.rint(((x - zero).astype(np.float32) / scale).astype(np.float32)), 0, L)
    return q.astype(np.float64) * scale + zero


def cli_fp8_scales(x16, fmt):
    amax = np.abs(x16.astype(np.float32)).max(axis=(0, 1, 3))
    return np.where(amax > 0, amax / np.float32(448 if fmt == "e4m3" else 57344), np.float32(1)).astype(np.float32)


def attention_ref(q, k, v, causal=False, window=0, softcap=0.0, scale=None):
    """q [B, Sq, Hq, D], k/v [B, Skv, Hkv, D] float64 -> O [B, Sq, Hq, D] (pinned semantics)."""
    B, Sq, Hq, D = q.shape
    Skv, Hkv = k.shape[1], k.shape[2]
    g = Hq // Hkv
    scale = 1 / np.sqrt(D) if scale is None else scale
    kk, vv = np.repeat(k, g, axis=2), np.repeat(v, g, axis=2)  # q head h reads kv head h // g
    s = np.einsum("bihd,bjhd->bhij", q, kk) * scale
    if softcap > 0:
        s = softcap * np.tanh(s / softcap)
    p = np.arange(Sq)[:, None] + (Skv - Sq)
    j = np.arange(Skv)[None, :]
    vis = np.ones((Sq, Skv), bool)
    if causal or window > 0:
        vis &= j <= p
    if window > 0:
        vis &= j > p - window
    s = np.where(vis[None, None], s, -np.inf)
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    return np.einsum("bhij,bjhd->bihd", w, vv)


def write_inputs(tmp, B, Sq, Skv, Hq, Hkv, D, seed=0, dtype=np.float32):
    r = np.random.default_rng(seed)
    q = r.standard_normal((B, Sq, Hq, D)).astype(dtype)
    k = (r.standard_normal((B, Skv, Hkv, D)) + 0.5).astype(dtype)
    v = r.standard_normal((B, Skv, Hkv, D)).astype(dtype)
    for name, a in (("q", q), ("k", k), ("v", v)):
        np.save(tmp / f"{name}.npy", a)
    return q.astype(np.float16), k.astype(np.float16), v.astype(np.float16)


def check_case(tmp, backend, fmt, B, Sq, Skv, Hq, Hkv, D, page=16, causal=False, window=0, softcap=0.0,
               scale=None, dtype=np.float32, seed=0):
    q16, k16, v16 = write_inputs(tmp, B, Sq, Skv, Hq, Hkv, D, seed, dtype)
    out = tmp / f"o_{backend}_{fmt}.npy"
    args = ["run", "attention", "--q", tmp / "q.npy", "--k", tmp / "k.npy", "--v", tmp / "v.npy", "--kv-format", fmt,
            "--output", out, "--page-size", page, "--backend", backend]
    if causal:
        args.append("--causal")
    if window:
        args += ["--window", window]
    if softcap:
        args += ["--softcap", softcap]
    if scale is not None:
        args += ["--scale", scale]
    r = run(*args, env={"LOWBIT_LOG": "warn"})
    what = f"{backend} {fmt} B{B} Sq{Sq} Skv{Skv} Hq{Hq}/Hkv{Hkv} D{D} P{page} c{causal} w{window} sc{softcap}"
    assert r.returncode == 0, f"{what}: exit {r.returncode}\n{r.stderr}"
    o = np.load(out)
    assert o.dtype == np.float32 and o.shape == (B, Sq, Hq, D), (what, o.dtype, o.shape)
    ks = vs = None
    if fmt in ("e4m3", "e5m2"):
        ks, vs = cli_fp8_scales(k16, fmt), cli_fp8_scales(v16, fmt)
    ref = attention_ref(q16.astype(np.float64), quantize_kv(k16, fmt, ks), quantize_kv(v16, fmt, vs), causal, window,
                        softcap, scale)
    err = float(np.max(np.abs(o - ref)))
    # fp32 accumulation over <= 300 keys and D <= 128 with |v| <~ 5: ~1e-5; 2e-4 leaves room for any
    # summation order and fast exp/tanh, and is far below what a masking or quantization error gives.
    assert err <= 2e-4, f"{what}: max |O - ref| = {err}"
    return err


# ---- tests ------------------------------------------------------------------------------------------
@test
def decode_every_format_on_every_backend(tmp):
    for be in backends():
        for fmt, D in (("fp16", 64), ("int8", 80), ("int4", 128), ("e4m3", 96), ("e5m2", 64)):
            check_case(tmp, be, fmt, B=3, Sq=1, Skv=45, Hq=8, Hkv=2, D=D, page=16)


@test
def prefill_causal_window_softcap_scale(tmp):
    for be in backends():
        check_case(tmp, be, "int8", B=2, Sq=5, Skv=40, Hq=4, Hkv=4, D=64, page=8, causal=True)
        check_case(tmp, be, "int4", B=1, Sq=17, Skv=33, Hq=8, Hkv=1, D=128, page=16, window=7, softcap=10.0,
                   scale=0.1)
        check_case(tmp, be, "fp16", B=2, Sq=6, Skv=20, Hq=2, Hkv=2, D=64, page=32, dtype=np.float16)  # non-causal
        check_case(tmp, be, "e4m3", B=1, Sq=16, Skv=16, Hq=4, Hkv=2, D=256, page=16, causal=True)


@test
def fp16_cache_matches_unquantized_attention(tmp):
    q16, k16, v16 = write_inputs(tmp, 2, 1, 300, 8, 2, 128, seed=5)
    q, k, v = (np.load(tmp / f"{n}.npy").astype(np.float64) for n in ("q", "k", "v"))
    r = run("run", "attention", "--q", tmp / "q.npy", "--k", tmp / "k.npy", "--v", tmp / "v.npy", "--kv-format", "fp16",
            "--output", tmp / "o.npy", "--backend", "cpu")
    assert r.returncode == 0, r.stderr
    # Q, K, V are rounded to fp16 on the way in: |O - O_exact| stays at the 2^-11 level.
    ref = attention_ref(q, k, v)
    err = float(np.max(np.abs(np.load(tmp / "o.npy") - ref)))
    assert err <= 8 * 2.0**-11, err


@test
def nan_in_q_gives_nan_rows(tmp):
    q16, k16, v16 = write_inputs(tmp, 2, 1, 20, 4, 2, 64, seed=2)
    q = np.load(tmp / "q.npy")
    q[1, 0, 3, 7] = np.nan
    np.save(tmp / "q.npy", q)
    r = run("run", "attention", "--q", tmp / "q.npy", "--k", tmp / "k.npy", "--v", tmp / "v.npy", "--kv-format",
            "int8", "--output", tmp / "o.npy", "--backend", "cpu")
    assert r.returncode == 0, r.stderr
    o = np.load(tmp / "o.npy")
    nan = np.isnan(o)
    assert nan[1, 0, 3].all() and nan.sum() == 64, nan.sum()


@test
def bad_inputs_exit_2(tmp):
    rng = np.random.default_rng(0)

    def save(name, shape, dtype=np.float32):
        a = rng.standard_normal(shape).astype(dtype)
        np.save(tmp / name, a)
        return tmp / name

    q, k, v = save("q.npy", (1, 1, 6, 64)), save("k.npy", (1, 8, 4, 64)), save("v.npy", (1, 8, 4, 64))
    q4 = save("q4.npy", (1, 1, 4, 64))
    out = tmp / "o.npy"
    base = ["run", "attention", "--output", out, "--backend", "cpu"]
    expect_error(base + ["--q", q, "--k", k, "--v", v, "--kv-format", "int8"], out, "incompatible")
    q100, k100 = save("q100.npy", (1, 1, 4, 100)), save("k100.npy", (1, 8, 4, 100))
    expect_error(base + ["--q", q100, "--k", k100, "--v", k100, "--kv-format", "fp16"], out, "64, 80, 96, 128, 256")
    expect_error(base + ["--q", q4, "--k", k, "--v", v, "--kv-format", "int3"], out, "int3")
    expect_error(base + ["--q", q4, "--k", k, "--v", save("v2.npy", (1, 9, 4, 64)), "--kv-format", "int8"], out, "shape")
    expect_error(base + ["--q", save("q9.npy", (1, 9, 4, 64)), "--k", k, "--v", v, "--kv-format", "int8"], out, "Sq <= Skv")
    expect_error(base + ["--q", save("q3.npy", (1, 4, 64)), "--k", k, "--v", v, "--kv-format", "int8"], out, "[B, Sq, Hq, D]")
    expect_error(base + ["--q", q4, "--k", save("kb.npy", (2, 8, 4, 64)), "--v", save("vb.npy", (2, 8, 4, 64)),
                         "--kv-format", "int8"], out, "batch")
    expect_error(base + ["--q", q4, "--k", k, "--v", v, "--kv-format", "int8", "--page-size", "0"], out, "page-size")
    expect_error(base + ["--q", q4, "--k", k, "--v", v, "--kv-format", "int8", "--window", "-2"], out, "window")
    expect_error(base + ["--q", q4, "--k", k, "--v", v, "--kv-format", "int8", "--softcap", "-1"], out, "softcap")
    expect_error(base + ["--q", q4, "--k", k, "--v", v, "--kv-format", "int8", "--scale", "nan"], out, "scale")
    expect_error(base + ["--q", tmp / "missing.npy", "--k", k, "--v", v, "--kv-format", "int8"], out, "missing.npy")
    kn = np.load(k)
    kn[0, 3, 1, 5] = np.nan
    np.save(tmp / "kn.npy", kn)
    expect_error(base + ["--q", q4, "--k", tmp / "kn.npy", "--v", v, "--kv-format", "int8"], out, "NaN")
    np.save(tmp / "ki.npy", np.load(k).astype(np.int32))
    expect_error(base + ["--q", q4, "--k", tmp / "ki.npy", "--v", v, "--kv-format", "int8"], out, "float32 or float16")
    expect_error(base + ["--q", q4, "--k", k, "--v", v, "--kv-format", "int8", "--backend", "nosuch"], out, None)
    expect_error(["run", "attention", "--q", q4, "--k", k, "--v", v, "--kv-format", "int8", "--output", tmp / "o.txt"],
                 tmp / "o.txt", ".npy")
    v_before = open(v, "rb").read()
    expect_error(["run", "attention", "--q", q4, "--k", k, "--v", v, "--kv-format", "int8", "--output", v,
                  "--backend", "cpu"], None, "would overwrite the input")
    assert open(v, "rb").read() == v_before, "run attention overwrote its input"


if __name__ == "__main__":
    sys.exit(main("lowbit_attn_cli"))
