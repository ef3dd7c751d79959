#!/usr/bin/env python3
"""test_w4a8_cli.py — `lowbit pack --scheme qoq` and `lowbit run linear` on QoQ (W4A8) checkpoints.

Packs float checkpoints (F32, F16, BF16 weights) and checks every packed tensor against an independent numpy
QoQ quantizer (the rules of README "W4A8"), then runs the layer on each backend of W4A8_BACKENDS that is
present and checks Y against numpy: per-token int8 activations, exact integer products, the fp32 epilogue
(acc * a_scale) * s1 + bias. Bad inputs (a group not dividing K, mistyped tensors, metadata disagreeing with
the tensors, codes outside the layout) exit 2 naming what was wrong and leave no output.
Usage: test_w4a8_cli.py PATH/TO/lowbit
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from cli_harness import backends, expect_error, main, np, ok, read_st_arrays, test, write_st  # noqa: E402

# The backends whose gemm_w4a8 `run linear` is checked here (absent ones are skipped by the harness).
W4A8_BACKENDS = ["cpu", "vulkan", "opencl"]


def qoq_nibble(j):
    return (j & 3) * 2 + (j >> 2)


def qoq_numpy(w, group):
    """Independent QoQ quantizer: (s1 fp16 [n], u [n, k], s2 [G, n] or None, z [G, n] or None)."""
    n, k = w.shape
    amax = np.abs(w).max(axis=1)
    levels = np.float32(7 if group == -1 else 119)
    s1 = (amax / levels).astype(np.float16)
    s1[amax == 0] = np.float16(1.0)
    q = np.rint(w / s1.astype(np.float32)[:, None])
    if group == -1:
        return s1, np.clip(q, -8, 7).astype(np.int64) + 8, None, None
    w8 = np.clip(q, -119, 119).astype(np.int64).reshape(n, k // group, group)
    lo, hi = np.minimum(w8.min(axis=2), 0), np.maximum(w8.max(axis=2), 0)
    s2 = np.maximum(1, (hi - lo + 14) // 15)
    z = np.clip(np.rint(-lo / s2), 0, 15).astype(np.int64)
    u = np.clip(np.rint(w8 / s2[..., None]) + z[..., None], 0, 15).astype(np.int64).reshape(n, k)
    return s1, u, s2.T.copy(), z.T.copy()


def pack_qoq_words(u, pad):
    """u [n, k] codes -> uint32 [ceil(k/8), n]; rows past K hold pad[n]."""
    n, k = u.shape
    kw = (k + 7) // 8
    full = np.concatenate([u, np.repeat(pad[:, None], kw * 8 - k, axis=1)], axis=1).reshape(n, kw, 8)
    words = np.zeros((n, kw), np.uint32)
    for j in range(8):
        words |= full[:, :, j].astype(np.uint32) << np.uint32(4 * qoq_nibble(j))
    return words.T.copy()


def w8_of(u, s2, z, group):
    """The level-2 reconstruction (u - z) * s2 [n, k] (per channel: u - 8)."""
    if s2 is None:
        return u - 8
    return (u - np.repeat(z.T, group, axis=1)) * np.repeat(s2.T, group, axis=1)


def w4a8_numpy(x, w8, s1, bias):
    """Y of `run linear` on a QoQ layer: x rounded to fp16, per-token int8, exact int products, fp32 epilogue."""
    xf = x.astype(np.float16).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        amax = np.abs(xf).max(axis=1)
        finite = np.isfinite(xf).all(axis=1)
        scale = np.where(amax == 0, np.float32(1), amax / np.float32(127)).astype(np.float32)
        scale[~finite] = np.nan
        q = np.where(finite[:, None], np.clip(np.rint(xf / scale[:, None]), -127, 127), 0).astype(np.int64)
    acc = q @ w8.T.astype(np.int64)
    y = (acc.astype(np.float32) * scale[:, None]).astype(np.float32) * s1.astype(np.float32)[None, :]
    return (y + bias[None, :]).astype(np.float32)


def float_model(tmp, rng, n=48, k=256):
    """A float checkpoint: l0 F32 with outlier channels and an F32 bias, l1 F16 (K = 36), l2 BF16, a norm."""
    w0 = (rng.standard_t(3, size=(n, k)) * 0.02).astype(np.float32)
    w0[5] *= 30
    w0[7] = 0  # an all-zero channel
    w1 = (rng.standard_normal((24, 36)) * 0.05).astype(np.float16)
    w2 = (rng.standard_normal((16, 64)) * 0.05).astype(np.float32)
    w2_bf16 = (w2.view(np.uint32) >> 16).astype(np.uint16)
    tensors = {"l0.weight": w0, "l0.bias": rng.standard_normal(n).astype(np.float32), "l1.weight": w1,
               "l2.weight": ("BF16", w2_bf16), "norm.weight": np.ones(k, np.float32)}
    path = os.path.join(tmp, "model.safetensors")
    write_st(path, tensors)
    weights = {"l0": w0, "l1": w1.astype(np.float32), "l2": (w2_bf16.astype(np.uint32) << 16).view(np.float32)}
    return path, weights


@test
def pack_qoq_matches_numpy(tmp):
    rng = np.random.default_rng(1)
    src, weights = float_model(str(tmp), rng)
    for group in (4, -1):  # 4 divides 256, 36 and 64
        out = os.path.join(tmp, f"qoq_{group}.safetensors")
        r = ok("pack", "--scheme", "qoq", "--group", group, src, out)
        assert "packed 3 layer(s) (qoq)" in r.stdout and "qoq: 0 weight(s) clamped" in r.stdout, r.stdout
        meta, t = read_st_arrays(out)
        assert meta["lowbit.scheme"] == "qoq" and meta["lowbit.layout"] == "1" and meta["lowbit.source"] == "qoq"
        assert meta["lowbit.group_size"] == str(group)
        layers = json.loads(meta["lowbit.layers"])
        for name, w in weights.items():
            n, k = w.shape
            assert layers[name] == {"n": n, "k": k, "group": k if group == -1 else group, "per_channel": group == -1}
            s1, u, s2, z = qoq_numpy(w, group)
            assert t[f"{name}.s1"].dtype == np.float16 and (t[f"{name}.s1"].view(np.uint16) == s1.view(np.uint16)).all(), name
            pad = np.full(n, 8) if s2 is None else z[-1]
            assert t[f"{name}.qweight"].dtype == np.uint32 and (t[f"{name}.qweight"] == pack_qoq_words(u, pad)).all(), name
            if s2 is None:
                assert f"{name}.s2" not in t and f"{name}.qzeros" not in t
            else:
                assert (t[f"{name}.s2"] == s2).all() and (t[f"{name}.qzeros"] == z).all(), name
                assert np.abs(w8_of(u, s2, z, group)).max() <= 127
        assert (t["norm.weight"] == 1).all() and t["l0.bias"].dtype == np.float32, "other tensors copied"
    # level-1 overflow: clamped and reported, the layer still valid
    big = os.path.join(tmp, "big.safetensors")
    wb = np.ones((4, 16), np.float32)
    wb[2] = np.linspace(-1e9, 1e9, 16, dtype=np.float32)
    write_st(big, {"l0.weight": wb})
    r = ok("pack", "--scheme", "qoq", "--group", "8", big, os.path.join(tmp, "big_qoq.safetensors"))
    assert "1 channel(s) with s1 past fp16" in r.stdout and "qoq: 0 weight(s)" not in r.stdout, r.stdout
    # --layers picks layers; the rest is copied unchanged
    out = os.path.join(tmp, "only_l1.safetensors")
    ok("pack", "--scheme", "qoq", "--group", "12", "--layers", "l1", src, out)
    _, t = read_st_arrays(out)
    assert "l1.qweight" in t and "l0.weight" in t and "l0.qweight" not in t


@test
def run_linear_qoq_matches_numpy(tmp):
    rng = np.random.default_rng(2)
    src, weights = float_model(str(tmp), rng)
    present = backends()
    for group in (128, -1):
        ckpt = os.path.join(tmp, f"qoq_{group}.safetensors")
        ok("pack", "--scheme", "qoq", "--group", group, "--layers", "l0", src, ckpt)
        _, t = read_st_arrays(ckpt)
        w = weights["l0"]
        s1, u, s2, z = qoq_numpy(w, group)
        w8 = w8_of(u, s2, z, group if group != -1 else w.shape[1])
        for m in (1, 5, 20):
            x = (rng.standard_normal((m, w.shape[1])) * 3).astype(np.float32)
            x[0, 3] = 40.0  # an outlier token feature
            if m > 1:
                x[1] = 0.0  # an all-zero row: Y = bias
            if m > 2:
                x[2, 7] = np.nan  # a NaN row: Y row NaN
            xp = os.path.join(tmp, f"x_{m}.npy")
            np.save(xp, x)
            want = w4a8_numpy(x, w8, s1, t["l0.bias"])
            for backend in W4A8_BACKENDS:
                if backend not in present:
                    continue
                yp = os.path.join(tmp, f"y_{backend}_{m}.npy")
                r = ok("run", "linear", "--checkpoint", ckpt, "--layer", "l0", "--input", xp, "--output", yp,
                       "--backend", backend)
                assert "W4A8 QoQ" in r.stderr, r.stderr
                y = np.load(yp)
                assert y.shape == want.shape and y.dtype == np.float32
                assert np.array_equal(np.isnan(y), np.isnan(want)), f"{backend} m={m}: NaN rows differ"
                fin = ~np.isnan(want)
                err = np.abs(y[fin] - want[fin]).max()
                assert err <= 1e-6 * np.abs(want[fin]).max(), f"{backend} group {group} m={m}: max |diff| {err}"
                if m > 1:
                    assert np.array_equal(y[1], t["l0.bias"]), "an all-zero row gives the bias"
                # and near the float product (W4A8 quantization error only)
                ref = x[:, :].astype(np.float64) @ w.T.astype(np.float64) + t["l0.bias"]
                rows = [i for i in range(m) if i != 2 or m <= 2]
                rel = np.linalg.norm(y[rows] - ref[rows]) / np.linalg.norm(ref[rows])
                assert rel < (0.15 if group != -1 else 0.6), f"{backend} group {group} m={m}: relative error {rel}"
            # --f16: the fp16 GEMM on the exactly dequantized QoQ weights
            yp = os.path.join(tmp, f"y16_{m}.npy")
            ok("run", "linear", "--checkpoint", ckpt, "--layer", "l0", "--input", xp, "--output", yp, "--backend", "cpu",
               "--f16")
            deq = w8.astype(np.float32) * s1.astype(np.float32)[:, None]
            ref16 = x.astype(np.float16).astype(np.float64) @ deq.T.astype(np.float16).astype(np.float64) + t["l0.bias"]
            y16 = np.load(yp)
            fin = ~np.isnan(ref16)
            assert np.abs(y16[fin] - ref16[fin]).max() <= 1e-4 * np.abs(ref16[fin]).max() + 1e-4, "run linear --f16 on QoQ"


@test
def qoq_bad_input_exits_2(tmp):
    rng = np.random.default_rng(3)
    src, _ = float_model(str(tmp), rng)
    out = os.path.join(tmp, "out.safetensors")
    expect_error(["pack", "--scheme", "qoq", "--group", "48", src, out], out, "does not divide K")
    expect_error(["pack", "--scheme", "qoq", "--sym", src, out], out, "--scheme qoq")
    nan_model = os.path.join(tmp, "nan.safetensors")
    w = np.ones((8, 16), np.float32)
    w[3, 4] = np.nan
    write_st(nan_model, {"l0.weight": w})
    expect_error(["pack", "--scheme", "qoq", "--group", "8", nan_model, out], out, "NaN")

    good = os.path.join(tmp, "good.safetensors")
    ok("pack", "--scheme", "qoq", "--group", "32", "--layers", "l0", src, good)
    meta, t = read_st_arrays(good)
    t["l2.weight"] = ("BF16", t["l2.weight"])  # read back as uint16: write it as BF16 again
    xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
    np.save(xp, rng.standard_normal((2, 256)).astype(np.float32))
    run_args = ["run", "linear", "--checkpoint", None, "--layer", "l0", "--input", xp, "--output", yp, "--backend", "cpu"]

    def broken(name, tensors=None, metadata=None):
        p = os.path.join(tmp, name)
        write_st(p, tensors if tensors is not None else dict(t), metadata if metadata is not None else dict(meta))
        return [p if a is None else a for a in run_args]

    mistyped = dict(t)
    mistyped["l0.s1"] = t["l0.s1"].astype(np.float32)  # F32 instead of F16
    expect_error(broken("s1_f32.safetensors", mistyped), yp, "'l0.s1'")
    reshaped = dict(t)
    reshaped["l0.s2"] = t["l0.s2"][:4]
    expect_error(broken("s2_short.safetensors", reshaped), yp, "'l0.s2'")
    missing = {k: v for k, v in t.items() if k != "l0.qzeros"}
    expect_error(broken("no_zeros.safetensors", missing), yp, "'l0.qzeros'")
    lying = dict(meta)
    layers = json.loads(meta["lowbit.layers"])
    layers["l0"]["k"] = 512
    lying["lowbit.layers"] = json.dumps(layers)
    expect_error(broken("k_lie.safetensors", metadata=lying), yp, "'l0.qweight'")
    layers["l0"].update({"k": 256, "group": 256, "per_channel": True})
    lying["lowbit.layers"] = json.dumps(layers)
    expect_error(broken("per_channel_lie.safetensors", metadata=lying), yp, "per_channel")
    del layers["l0"]["per_channel"]
    lying["lowbit.layers"] = json.dumps(layers)
    expect_error(broken("no_per_channel.safetensors", metadata=lying), yp, "'per_channel' is missing")
    out_of_range = dict(t)
    out_of_range["l0.s2"] = np.full_like(t["l0.s2"], 17)
    expect_error(broken("s2_17.safetensors", out_of_range), yp, "s2")


@test
def devices_say_how_w4a8_multiplies(tmp):
    r = ok("devices")
    assert "w4a8: " in r.stdout, r.stdout
    reports = json.loads(ok("devices", "--json").stdout)["backends"]
    for b in reports:
        for d in b["devices"]:
            assert d["w4a8"] == ("integer dot product" if d["integer_dot_product"] else "portable"), d


if __name__ == "__main__":
    sys.exit(main("lowbit_w4a8_cli"))
