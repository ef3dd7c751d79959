#!/usr/bin/env python3
"""test_cli.py — end-to-end tests of the `lowbit` CLI: devices, convert --to/--from for every format on
the CPU backend and on every GPU backend `lowbit devices --json` reports, codes checked against an
independent Python FP8 encoder and across backends, round-trip error per format, packed layouts,
multi-tensor .safetensors, and bad inputs (exit 2, one `lowbit: error:` line, no output file).

Usage: python3 tests/test_cli.py path/to/lowbit      (prints "N passed, M failed"; exit 1 on failure)
"""
import json
import math
import os
import sys
import struct
from fractions import Fraction

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from cli_harness import (ST_DTYPES, VALIDATION_EXIT_CODE, backend_reports, backends, expect_error, main, np,  # noqa: E402
                         ok, read_st, required, run, run_unchecked, st_array, test, write_st)

FORMATS = {  # name: (block, scale tensor, tensor scale, code bits, max relative error of a round trip)
    "e4m3": (0, False, False, 8, 2.0**-4),
    "e5m2": (0, False, False, 8, 2.0**-3),
    "e4m3fnuz": (0, False, False, 8, 2.0**-4),
    "e5m2fnuz": (0, False, False, 8, 2.0**-3),
    # MX: element RNE error plus saturation of a block's amax (scaled amax < 2^(emax+1) may exceed max)
    "mxfp8_e4m3": (32, True, False, 8, 2.0**-3),
    "mxfp8_e5m2": (32, True, False, 8, 2.0**-3),
    "mxfp6_e3m2": (32, True, False, 6, 2.0**-3),
    "mxfp6_e2m3": (32, True, False, 6, 2.0**-3),
    "mxfp4": (32, True, False, 4, 0.5),
    "mxint8": (32, True, False, 8, 2.0**-4),
    "nvfp4": (16, True, True, 4, 0.5),
}
# ---- helpers -----------------------------------------------------------------------------------------
def e4m3_ref(v, saturate=True):
    """OCP E4M3 encoding computed with exact rationals (independent of lowbit's integer code)."""
    if math.isnan(v):
        return 0x7F
    sign = 0x80 if math.copysign(1.0, v) < 0 else 0
    if math.isinf(v):
        return sign | (0x7E if saturate else 0x7F)
    a = Fraction(abs(v))
    if a == 0:
        return sign
    e = max(math.frexp(abs(v))[1] - 1, -6)  # binade, or the subnormal range
    n = round(a / Fraction(2) ** (e - 3))  # Fraction rounds half to even
    if n == 16:
        e, n = e + 1, 8
    if e > 8 or (e == 8 and n > 14):
        return sign | (0x7E if saturate else 0x7F)
    return sign | (n if n < 8 else ((e + 7) << 3) | (n - 8))


def special_values():
    return np.array([1.0, 448.0, -0.0, 1000.0, np.nan, np.inf, -np.inf, 0.0, 2.0**-9, -2.0**-9, 2.0**-10,
                     3 * 2.0**-11, 0.3, 17.5, -240.0, 464.0, 480.0, 1e-10, -1e-10, 65504.0, 1e-45, -3.0],
                    dtype=np.float32)


def regular_values(shape=(3, 70), seed=1):
    return (np.random.default_rng(seed).standard_normal(shape) * 4).astype(np.float32)


def max_rel_error(fmt, x, y):
    """max |x - y| / max(|x|, floor): floor = block amax / 8 (blocked) or 2^-6 (plain FP8)."""
    block = FORMATS[fmt][0]
    if block:
        cols = x.shape[-1]
        pad = (-cols) % block
        xa = np.abs(np.pad(x.reshape(-1, cols), ((0, 0), (0, pad))))
        amax = xa.reshape(xa.shape[0], -1, block).max(axis=2)
        floor = np.repeat(amax, block, axis=1)[:, :cols].reshape(x.shape) / 8
    else:
        floor = np.full(x.shape, 2.0**-6, np.float32)
    return float(np.max(np.abs(x.astype(np.float64) - y) / np.maximum(np.abs(x), floor)))


# ---- tests -------------------------------------------------------------------------------------------
@test
def help_for_every_command(tmp):
    for args in ([], ["devices"], ["convert"]):
        r = ok(*args, "--help")
        assert "Usage" in r.stdout, r.stdout
    assert "--to" in ok("convert", "--help").stdout


@test
def devices_lists_every_backend(tmp):
    rep = backend_reports()
    assert set(rep) == {"vulkan", "opencl", "cpu"}, rep.keys()
    assert rep["cpu"]["available"] and rep["cpu"]["devices"]
    for b in rep.values():
        if not b["available"]:
            assert b["reason"], b
        for d in b["devices"]:
            for k in ("name", "type", "vendor", "driver_version", "subgroup_size", "shared_memory_bytes",
                      "max_workgroup_size", "max_buffer_range", "fp16", "int8", "integer_dot_product",
                      "cooperative_matrix", "coopmat_nv", "coopmat_nv_shapes", "coopmat_khr", "coopmat_khr_shapes"):
                assert k in d, (k, d)
            assert d["cooperative_matrix"] == (d["coopmat_nv"] or d["coopmat_khr"]), d
            assert d["prefill_attention"] == "scalar" or d["prefill_attention"].startswith("cooperative matrix (KHR "), d
            if not d["coopmat_khr"]:
                assert d["prefill_attention"] == "scalar", d
    text = ok("devices").stdout
    for name in ("vulkan", "opencl", "cpu"):
        assert name in text


@test
def required_backends_are_available(tmp):
    rep = backend_reports()
    for b in ("vulkan", "opencl"):
        if required(b):
            assert rep[b]["available"], f"{b} required by $CI/$LOWBIT_REQUIRE but absent: {rep[b].get('reason')}"


@test
def e4m3_codes_match_independent_encoder(tmp):
    x = special_values()
    np.save(tmp / "s.npy", x)
    for sat in (True, False):
        for be in backends():
            out = tmp / f"s_{be}_{sat}.safetensors"
            ok("convert", "--to", "e4m3", *([] if sat else ["--no-saturate"]), "--backend", be, tmp / "s.npy", out)
            meta, t = read_st(out)
            codes = st_array(t["x"])
            want = np.array([e4m3_ref(float(v), sat) for v in x], np.uint8)
            bad = [(float(v), hex(c), hex(w)) for v, c, w in zip(x, codes, want) if c != w]
            assert not bad, f"{be} saturate={sat}: (value, got, want) {bad}"
            assert meta["lowbit.saturate"] == ("true" if sat else "false")
    named = dict(zip([1.0, 448.0, 1000.0], [0x38, 0x7E, 0x7E]))
    for v, c in named.items():
        assert e4m3_ref(v) == c
    assert e4m3_ref(-0.0) == 0x80 and e4m3_ref(1000.0, False) == 0x7F and e4m3_ref(float("nan")) == 0x7F


@test
def every_format_on_every_backend(tmp):
    bes = backends()
    print(f"  backends: {', '.join(bes)}")
    x = regular_values()
    s = special_values()
    np.save(tmp / "x.npy", x)
    np.save(tmp / "s.npy", s)
    for fmt, (block, has_scales, has_ts, bits, tol) in FORMATS.items():
        ref_parts = {}
        for be in bes:
            for name in ("x", "s"):
                q = tmp / f"{name}_{fmt}_{be}.safetensors"
                r = ok("convert", "--to", fmt, "--backend", be, tmp / f"{name}.npy", q)
                assert "validation message" not in r.stderr, r.stderr
                meta, t = read_st(q)
                shape = np.load(tmp / f"{name}.npy").shape
                assert meta["lowbit.format"] == fmt and meta["lowbit.packed"] == "false" and "lowbit.version" in meta
                assert json.loads(meta["lowbit.tensors"])["x"]["shape"] == list(shape)
                want = {"x": ("U8", shape)} if not block else {"x.codes": ("U8", shape)}
                if has_scales:
                    want["x.scales"] = ("U8", shape[:-1] + (-(-shape[-1] // block),))
                if has_ts:
                    want["x.tensor_scale"] = ("F32", (1,))
                got = {k: (v[0], v[1]) for k, v in t.items()}
                assert got == want, f"{fmt}/{be}: {got} != {want}"
                parts = {k: v[2] for k, v in t.items()}
                if (name, fmt) in ref_parts:
                    assert parts == ref_parts[(name, fmt)], f"{fmt}: {be} codes differ from cpu"
                else:
                    ref_parts[(name, fmt)] = parts
                back = tmp / f"{name}_{fmt}_{be}.npy"
                ok("convert", "--from", fmt, "--backend", be, q, back)
                y = np.load(back)
                assert y.dtype == np.float32 and y.shape == shape, (y.dtype, y.shape)
                if name == "x":
                    err = max_rel_error(fmt, x, y)
                    assert err <= tol, f"{fmt}/{be}: max relative error {err} > {tol}"
                    if be == "cpu":
                        print(f"  {fmt:11s} max relative error {err:.4f} (bound {tol:.4f})")
                elif not block:  # plain FP8: specials survive the round trip
                    assert np.isnan(y[4]), y[4]
                    assert y[0] == 1.0 and y[1] == (240.0 if fmt == "e4m3fnuz" else 448.0), y[:2]
                    neg_zero = math.copysign(1.0, float(y[2])) < 0
                    assert y[2] == 0 and neg_zero == (not fmt.endswith("fnuz")), f"{fmt}: -0 -> {y[2]}"


@test
def packed_sizes_and_layouts(tmp):
    x = regular_values((2, 37), seed=3)
    np.save(tmp / "x.npy", x)
    for fmt, (block, _, _, bits, _) in FORMATS.items():
        ok("convert", "--to", fmt, tmp / "x.npy", tmp / "u.safetensors", "--backend", "cpu")
        ok("convert", "--to", fmt, "--packed", tmp / "x.npy", tmp / "p.safetensors", "--backend", "cpu")
        _, u = read_st(tmp / "u.safetensors")
        meta, p = read_st(tmp / "p.safetensors")
        assert meta["lowbit.packed"] == "true"
        cname = "x.codes" if block else "x"
        row = {4: (37 + 1) // 2, 6: (37 + 3) // 4 * 3, 8: 37}[bits]
        assert p[cname][1] == (2, row), (fmt, p[cname][1])
        codes = st_array(u[cname]).astype(np.uint32)
        packed = st_array(p[cname])
        if bits == 4:  # two codes per byte, low nibble = lower index
            c = np.pad(codes, ((0, 0), (0, 1)))
            assert np.array_equal(packed, (c[:, 0::2] | (c[:, 1::2] << 4)).astype(np.uint8)), fmt
        elif bits == 6:  # four codes per 3 bytes, little-endian bit order
            c = np.pad(codes, ((0, 0), (0, (-37) % 4))).reshape(2, -1, 4)
            w = c[..., 0] | (c[..., 1] << 6) | (c[..., 2] << 12) | (c[..., 3] << 18)
            want = np.stack([w & 0xFF, (w >> 8) & 0xFF, (w >> 16) & 0xFF], axis=-1).reshape(2, -1)
            assert np.array_equal(packed, want.astype(np.uint8)), fmt
        else:
            assert np.array_equal(packed, codes.astype(np.uint8)), fmt
        ok("convert", "--from", fmt, tmp / "u.safetensors", tmp / "u.npy", "--backend", "cpu")
        ok("convert", "--from", fmt, tmp / "p.safetensors", tmp / "p.npy", "--backend", "cpu")
        assert np.array_equal(np.load(tmp / "u.npy"), np.load(tmp / "p.npy"), equal_nan=True), fmt


@test
def zero_and_one_dimensional_and_float16_inputs(tmp):
    for arr in (np.array(2.5, np.float32), np.arange(-20, 21, dtype=np.float32) / 4,
                (np.arange(48, dtype=np.float16).reshape(2, 24) - 20) / 8):
        np.save(tmp / "a.npy", arr)
        for fmt in ("e5m2", "mxfp4", "nvfp4"):
            for packed in ([], ["--packed"]):
                ok("convert", "--to", fmt, *packed, tmp / "a.npy", tmp / "q.safetensors")
                ok("convert", "--from", fmt, tmp / "q.safetensors", tmp / "b.npy")
                b = np.load(tmp / "b.npy")
                assert b.shape == arr.shape and b.dtype == np.float32, (b.shape, b.dtype)
                assert np.allclose(b, arr.astype(np.float32), rtol=0.5, atol=0.25), (fmt, arr, b)


@test
def safetensors_multi_tensor_with_non_float_copied(tmp):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 40)).astype(np.float32)
    h = rng.standard_normal((2, 33)).astype(np.float16)
    bf = (rng.standard_normal((3, 16)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    idx = np.arange(5, dtype=np.int32) - 2
    u = np.arange(7, dtype=np.uint8)
    write_st(tmp / "m.safetensors", {"w": ("F32", w), "h": ("F16", h), "bf": ("BF16", bf), "idx": ("I32", idx),
                                     "u": ("U8", u)}, {"note": "hello"})
    ok("convert", "--to", "mxfp8_e4m3", tmp / "m.safetensors", tmp / "q.safetensors")
    meta, t = read_st(tmp / "q.safetensors")
    assert meta["note"] == "hello"
    assert sorted(t) == sorted(["w.codes", "w.scales", "h.codes", "h.scales", "bf.codes", "bf.scales", "idx", "u"])
    size = {name: np.dtype(ST_DTYPES[e[0]]).itemsize for name, e in t.items()}
    assert list(t) == sorted(t, key=lambda n: (-size[n], n)), "tensors must be laid out by dtype size, then name"
    raw = open(tmp / "q.safetensors", "rb").read()
    start = 8 + struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:start])
    for name, e in t.items():  # every tensor aligned to its dtype within the file
        assert (start + header[name]["data_offsets"][0]) % size[name] == 0, name
    assert t["idx"][0] == "I32" and t["idx"][2] == idx.tobytes()
    assert t["u"][0] == "U8" and t["u"][2] == u.tobytes()
    assert t["h.codes"][1] == (2, 33) and t["h.scales"][1] == (2, 2)
    ok("convert", "--from", "mxfp8_e4m3", tmp / "q.safetensors", tmp / "b.safetensors")
    meta, b = read_st(tmp / "b.safetensors")
    assert meta.get("note") == "hello" and "lowbit.format" not in meta
    assert {k: (v[0], v[1]) for k, v in b.items()} == {
        "w": ("F32", (4, 40)), "h": ("F32", (2, 33)), "bf": ("F32", (3, 16)), "idx": ("I32", (5,)), "u": ("U8", (7,))}
    assert b["idx"][2] == idx.tobytes()
    bf32 = (bf.astype(np.uint32) << 16).view(np.float32)
    for name, ref in (("w", w), ("h", h.astype(np.float32)), ("bf", bf32)):
        assert max_rel_error("mxfp8_e4m3", ref, st_array(b[name])) <= 2.0**-3, name
    expect_error(["convert", "--from", "mxfp8_e4m3", tmp / "q.safetensors", tmp / "one.npy"], tmp / "one.npy",
                 "quantized tensors")


@test
def bad_inputs_fail_cleanly(tmp):
    np.save(tmp / "x.npy", regular_values((2, 8)))
    np.save(tmp / "i.npy", np.arange(6, dtype=np.int32))
    out = tmp / "out" / "o.safetensors"
    os.makedirs(tmp / "out")
    ok("convert", "--to", "e4m3", tmp / "x.npy", tmp / "good.safetensors")
    good = open(tmp / "good.safetensors", "rb").read()
    open(tmp / "trunc.safetensors", "wb").write(good[:len(good) - 5])
    open(tmp / "short.safetensors", "wb").write(good[:5])
    lie = bytearray(good)
    lie[0:8] = struct.pack("<Q", 1 << 40)
    open(tmp / "huge.safetensors", "wb").write(lie)
    lie[0:8] = struct.pack("<Q", len(good))
    open(tmp / "past.safetensors", "wb").write(lie)
    hdr = json.dumps({"x": {"dtype": "F32", "shape": [2, 8], "data_offsets": [0, 640]}}).encode()
    open(tmp / "off.safetensors", "wb").write(struct.pack("<Q", len(hdr)) + hdr + b"\0" * 64)
    hdr = b"{not json at all}"
    open(tmp / "nojson.safetensors", "wb").write(struct.pack("<Q", len(hdr)) + hdr)
    open(tmp / "x.txt", "w").write("1 2 3\n")
    open(tmp / "bad.npy", "wb").write(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'")
    cases = [
        (["convert", "--to", "fp3", tmp / "x.npy", out], "unknown format 'fp3'"),
        (["convert", "--to", "e4m3", tmp / "x.txt", out], "neither .npy nor .safetensors"),
        (["convert", "--to", "e4m3", tmp / "x.npy", tmp / "out" / "o.txt"], "neither .npy nor .safetensors"),
        (["convert", "--to", "e4m3", tmp / "x.npy", tmp / "out" / "o.npy"], "must be a .safetensors"),
        (["convert", "--to", "e4m3", tmp / "i.npy", out], "float32 or float16"),
        (["convert", "--to", "e4m3", tmp / "missing.npy", out], "missing.npy"),
        (["convert", "--to", "e4m3", tmp / "bad.npy", out], "npy"),
        (["convert", "--to", "e4m3", tmp / "trunc.safetensors", out], "past the end of the data"),
        (["convert", "--to", "e4m3", tmp / "short.safetensors", out], "too small"),
        (["convert", "--to", "e4m3", tmp / "huge.safetensors", out], "absurd"),
        (["convert", "--to", "e4m3", tmp / "past.safetensors", out], "past the end of the file"),
        (["convert", "--to", "e4m3", tmp / "off.safetensors", out], "tensor 'x'"),
        (["convert", "--to", "e4m3", tmp / "nojson.safetensors", out], "not valid JSON"),
        (["convert", "--to", "e4m3", tmp / "x.npy", tmp / "no" / "such" / "dir" / "o.safetensors"], "does not exist"),
        (["convert", "--to", "mxfp4", "--no-saturate", tmp / "x.npy", out], "always saturates"),
        (["convert", "--to", "e4m3", "--from", "e4m3", tmp / "x.npy", out], None),
        (["convert", tmp / "x.npy", out], "exactly one of --to"),
        (["convert", "--to", "e4m3", "--backend", "tpu", tmp / "x.npy", out], "unknown backend"),
        (["convert", "--from", "e5m2", tmp / "good.safetensors", tmp / "out" / "o.npy"], "holds e4m3 data"),
        (["convert", "--from", "e4m3", tmp / "x.npy", tmp / "out" / "o.npy"], "reads a .safetensors"),
        (["convert", "--to", "e4m3", tmp / "good.safetensors", out], "already holds quantized"),
        (["frobnicate"], "unknown command"),
        (["convert", "--bogus"], None),
    ]
    write_st(tmp / "plain.safetensors", {"x": ("F32", np.ones(4, np.float32))})
    cases.append((["convert", "--from", "e4m3", tmp / "plain.safetensors", tmp / "out" / "o.npy"], "lowbit.format"))
    for args, needle in cases:
        target = args[-1] if str(args[-1]).endswith((".safetensors", ".npy", ".txt")) else None
        if target is not None and not str(target).startswith(str(tmp / "out")):
            target = None
        try:
            expect_error(args, str(target) if target else None, needle)
        except AssertionError as e:
            raise AssertionError(f"case {[str(a) for a in args]}: {e}") from None
    assert os.listdir(tmp / "out") == [], os.listdir(tmp / "out")
    if os.geteuid() != 0:  # root ignores permissions
        os.chmod(tmp / "out", 0o555)
        try:
            expect_error(["convert", "--to", "e4m3", tmp / "x.npy", out], str(out), "not writable")
        finally:
            os.chmod(tmp / "out", 0o755)


@test
def stdout_is_pure_json_with_logs_on(tmp):
    r = ok("devices", "--json", env={"LOWBIT_LOG": "debug"})
    json.loads(r.stdout)
    np.save(tmp / "x.npy", regular_values((2, 8)))
    r = ok("convert", "--to", "e4m3", tmp / "x.npy", tmp / "q.safetensors", env={"LOWBIT_LOG": "info"})
    assert r.stdout == "" and "backend" in r.stderr, (r.stdout, r.stderr)


from cli_harness import (ST_DTYPES, VALIDATION_EXIT_CODE, backend_reports, backends, expect_error, main, np,  # noqa: E402
                         ok, read_st, required, run, run_unchecked, st_array, test, write_st)


if __name__ == "__main__":
    sys.exit(main("lowbit_cli"))
