#!/usr/bin/env python3
"""test_bench_cli.py — end-to-end tests of `lowbit bench`: a tiny run of every op with --json on the
CPU backend and on every GPU backend `lowbit devices --json` reports, the JSON schema (every required
key and its type, p20 <= median <= p80, speedup_vs_f16 present, copy first, bytes = 2 x size for
copy), w4a8 rows beside their f16 and w4a16 peers (speedup_vs_w4a16), --baseline clblast where OpenCL is present, and bad
flags (exit 2, one `lowbit: error:` line, no JSON file left behind).

Usage: python3 tests/test_bench_cli.py path/to/lowbit      (prints "N passed, M failed"; exit 1 on failure)
"""
import json
import os
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from cli_harness import backends, finish, run as run_lowbit  # noqa: E402

TINY = ["--warmup", "1", "--iters", "3", "--copy-mib", "1", "--peak-shape", "0"]
REQUIRED = {  # key: allowed types (None = JSON null allowed, e.g. error rows / ops without an fp16 peer)
    "op": (str,), "backend": (str,), "m": (int,), "n": (int,), "k": (int,), "config": (str,),
    "config_source": (str,), "median_ms": (float, int), "p20_ms": (float, int), "p80_ms": (float, int),
    "bytes": (float, int), "flops": (float, int), "gbps": (float, int), "tflops": (float, int),
    "pct_of_peak_bw": (float, int), "bound": (str,), "speedup_vs_f16": (float, int, type(None)),
}
passed, failed = 0, 0


def run(args, expect_rc=0):
    p = run_lowbit(*args)
    if p.returncode != expect_rc:
        raise AssertionError(f"lowbit {' '.join(args)}: rc {p.returncode}, expected {expect_rc}\n{p.stderr[-2000:]}")
    return p


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {name}")
    except Exception:
        failed += 1
        print(f"FAIL {name}")
        traceback.print_exc()


def bench_json(backend, op, extra):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        p = run(["bench", "--op", op, "--backend", backend, "--json", out] + TINY + extra)
        assert p.stdout.startswith("device:"), p.stdout[:200]
        with open(out) as f:
            return json.load(f)


def check_schema(doc, backend, op, expect_speedup):
    for k in ("backend", "name", "vendor", "driver"):
        assert isinstance(doc["device"][k], str), k
    assert doc["device"]["backend"] == backend
    roof = doc["roofline"]
    assert roof["peak_gbps"] > 0, roof
    res = doc["results"]
    assert res[0]["op"] == "copy" and res[0]["bytes"] == 2 * res[0]["size_bytes"], res[0]
    assert any(r["op"] == op for r in res), [r["op"] for r in res]
    for r in res:
        assert r["backend"] == backend, r
        if "error" in r:  # the op is not available on this backend: reported, not fatal
            assert isinstance(r["error"], str) and r["median_ms"] is None, r
            continue
        for k, types in REQUIRED.items():
            assert k in r, f"{k} missing in {r}"
            assert isinstance(r[k], types) and not isinstance(r[k], bool), f"{k}: {r[k]!r} in {r}"
        assert 0 < r["p20_ms"] <= r["median_ms"] <= r["p80_ms"], r
        assert abs(r["gbps"] - r["bytes"] / r["median_ms"] / 1e6) <= 1e-6 * r["gbps"], r
        assert abs(r["tflops"] - r["flops"] / r["median_ms"] / 1e9) <= 1e-6 * max(r["tflops"], 1e-30), r
        assert abs(r["pct_of_peak_bw"] - r["gbps"] / roof["peak_gbps"] * 100) <= 1e-6 * r["pct_of_peak_bw"] + 1e-9, r
        assert r["bound"] in ("memory", "compute"), r
        if expect_speedup and r["op"] != "copy":
            assert isinstance(r["speedup_vs_f16"], (int, float)), r
    return res


def test_gemm(backend):
    res = check_schema(bench_json(backend, "w4a16", ["--shapes", "2,64,128;1,32,256"]), backend, "w4a16", True)
    ops = [r["op"] for r in res]
    assert ops == ["copy", "f16", "w4a16", "f16", "w4a16"], ops
    f16 = [r for r in res if r["op"] == "f16" and "error" not in r]
    assert all(r["speedup_vs_f16"] == 1.0 for r in f16), f16
    r = res[2]
    assert (r["m"], r["n"], r["k"], r["group"]) == (2, 64, 128, 128), r
    assert r["bytes"] == 64 * 128 / 2 + 2 * 64 * 1 + 2 * 2 * 128 + 2 * 2 * 64, r  # formula check end to end
    assert r["flops"] == 2 * 2 * 64 * 128, r


def test_forced_config(backend):
    """--config forces the kernel config of every op: the lane-reduced int4 GEMV (variant=3)."""
    res = bench_json(backend, "w4a16", ["--shapes", "1,64,256", "--config", "variant=3"])["results"]
    w4 = [r for r in res if r["op"] == "w4a16"]
    assert w4 and w4[0]["config"] == "gemv_w4 variant=3" and w4[0]["config_source"] == "override", w4


def test_w4a8(backend):
    # each shape: the f16 row, the w4a16 row, then the w4a8 row with both ratios (tiled and GEMV M)
    res = check_schema(bench_json(backend, "w4a8", ["--shapes", "20,64,256;1,40,128"]), backend, "w4a8", True)
    ops = [r["op"] for r in res]
    assert ops == ["copy", "f16", "w4a16", "w4a8", "f16", "w4a16", "w4a8"], ops
    for i in (3, 6):
        r, w4a16 = res[i], res[i - 1]
        assert abs(r["speedup_vs_w4a16"] - w4a16["median_ms"] / r["median_ms"]) <= 1e-9 * r["speedup_vs_w4a16"], r
        # the W4A8 family the launch looked up (gemv_w4a8 / tiled_w4a8) and where its configuration came from
        assert r["config"] == ("gemv_w4a8" if r["m"] <= 16 else "tiled_w4a8"), r
        assert r["config_source"] == "heuristic", r
        assert r["kernel"] and r["workgroups"] >= (1 if backend != "cpu" else 0), r
    r = res[3]
    assert r["bytes"] == 64 * 256 / 2 + 2 * 64 * 2 + 20 * 256 + 4 * 20 + 2 * 20 * 64, r  # gemm_w4a8_work
    assert r["flops"] == 2 * 20 * 64 * 256, r


def test_pipeline(backend):
    # every GEMM row carries its launch geometry; --pipeline both pairs the tiled run with its serial variant
    res = check_schema(bench_json(backend, "w4a16", ["--shapes", "2,64,256;40,64,256", "--pipeline", "both"]),
                       backend, "w4a16", True)
    for r in res[1:]:
        for k in ("workgroups", "invocations_per_workgroup", "shared_bytes", "stages", "split_k"):
            assert isinstance(r[k], int), (k, r)
        if backend != "cpu":
            assert r["workgroups"] > 0, r
        if r["m"] <= 16:
            assert r["stages"] == 1, r
        if r["op"] == "w4a16":
            assert "dequant_hidden_pct" in r, r
            if r["m"] <= 16:
                assert r["dequant_hidden_pct"] is None, r
            else:
                want = 100 * (r["serial_ms"] - r["median_ms"]) / r["serial_ms"]
                assert abs(r["dequant_hidden_pct"] - want) < 1e-6, r
    serial = check_schema(bench_json(backend, "w4a16", ["--shapes", "40,64,256", "--pipeline", "serial"]),
                          backend, "w4a16", True)
    assert [r["stages"] for r in serial if r["op"] == "w4a16"] == [1], serial


def test_deterministic(backend):
    # --deterministic: every GEMM on the tiled path with ceil(K / 1024) slices, whatever M (GPU backends)
    shapes = ["--shapes", "1,32,1152;20,32,1152"]
    det = check_schema(bench_json(backend, "w4a16", shapes + ["--deterministic"]), backend, "w4a16", True)
    default = check_schema(bench_json(backend, "w4a16", shapes), backend, "w4a16", True)
    if backend == "cpu":
        return
    # the tiled path (its tuning family: tiled_f16 / tiled_w4) with ceil(K / 1024) = 2 K slices for every M
    assert [(r["config"].split("_")[0], r["split_k"]) for r in det[1:]] == [("tiled", 2)] * 4, det
    assert [r["config"].split("_")[0] for r in default[1:3]] == ["gemv", "gemv"], default


def test_f16(backend):
    check_schema(bench_json(backend, "f16", ["--shapes", "3,16,64"]), backend, "f16", True)


def test_copy(backend):
    res = check_schema(bench_json(backend, "copy", []), backend, "copy", False)
    assert len(res) == 1 and res[0]["size_bytes"] == 1 << 20 and res[0]["pct_of_peak_bw"] == 100, res


def test_convert(backend):
    res = check_schema(bench_json(backend, "convert", ["--shapes", "4,64", "--formats", "mxfp4,e4m3"]), backend,
                       "convert", False)
    conv = [r for r in res if r["op"] == "convert"]
    assert [(r["format"], r["direction"]) for r in conv] == [("mxfp4", "quantize"), ("mxfp4", "dequantize"),
                                                             ("e4m3", "quantize"), ("e4m3", "dequantize")], conv
    # float32 values (the default --dtype) + packed fp4 codes + one E8M0 scale per 32 values
    assert conv[0]["bytes"] == 4 * 64 * 4 + 4 * 32 + 4 * 2 and conv[0]["dtype"] == "f32", conv[0]
    f16 = check_schema(bench_json(backend, "convert", ["--shapes", "4,64", "--formats", "mxfp4", "--dtype", "f16"]),
                       backend, "convert", False)
    assert [r["bytes"] for r in f16 if r["op"] == "convert"][0] == 4 * 64 * 2 + 4 * 32 + 4 * 2, f16


def test_attention(backend):
    res = check_schema(bench_json(backend, "attention", ["--batch", "1", "--context", "32", "--q-len", "1,4",
                                                        "--q-heads", "4", "--kv-heads", "2", "--head-dim", "64",
                                                        "--kv-format", "int8"]), backend, "attention", True)
    att = [r for r in res if r["op"] == "attention"]
    assert [(r["kv_format"], r["q_len"]) for r in att] == [("fp16", 1), ("int8", 1), ("fp16", 4), ("int8", 4)], att
    # the kernel that ran: Vulkan names it (the cooperative-matrix prefill only where the device has matrix units)
    for r in att:
        if backend != "vulkan" or "error" in r:
            assert r["kernel"] is None, r
        elif r["q_len"] == 1:
            assert r["kernel"] in ("attention_decode", "attention_decode_sg"), r
        else:
            assert r["kernel"] in ("attention_prefill", "attention_prefill_coopmat_khr"), r


def test_attention_kv_columns(backend):
    # GQA 4 and GQA 1 in one run: kv_bytes (K/V codes + scales read) and speedup_vs_fp16_kv on every row
    res = check_schema(bench_json(backend, "attention", ["--context", "48", "--q-heads", "4", "--kv-heads", "1,4",
                                                        "--head-dim", "64", "--kv-format", "int4"]),
                       backend, "attention", True)
    att = [r for r in res if r["op"] == "attention"]
    assert [(r["kv_heads"], r["kv_format"]) for r in att] == [(1, "fp16"), (1, "int4"), (4, "fp16"), (4, "int4")], att
    for r in att:
        row = 2 * 64 if r["kv_format"] == "fp16" else 64 / 2 + 4
        assert r["kv_bytes"] == 2 * 48 * r["kv_heads"] * row, r
        assert r["speedup_vs_fp16_kv"] == r["speedup_vs_f16"], r


def test_kv_append(backend):
    res = check_schema(bench_json(backend, "kv_append", ["--kv-format", "int4,e4m3", "--head-dim", "64",
                                                        "--kv-heads", "2"]), backend, "kv_append", True)
    rows = [r for r in res if r["op"] == "kv_append"]
    # default shapes: decode steps of batch 1 and 16, a 512-token prefill; fp16 first
    assert [(r["batch"], r["tokens_per_seq"], r["kv_format"]) for r in rows] == [
        (b, t, f) for b, t in ((1, 1), (16, 1), (1, 512)) for f in ("fp16", "int4", "e4m3")], rows
    for r in rows:
        if "error" in r:
            continue
        out = {"fp16": 128, "int4": 36, "e4m3": 64}[r["kv_format"]]
        tokens = r["batch"] * r["tokens_per_seq"]
        assert r["bytes"] == 2 * tokens * 2 * (128 + out) + 4 * tokens and r["flops"] == 0, r
    res = check_schema(bench_json(backend, "kv_append", ["--batch", "3", "--q-len", "2", "--kv-format", "int8"]),
                       backend, "kv_append", True)
    assert [(r["batch"], r["tokens_per_seq"]) for r in res if r["op"] == "kv_append"] == [(3, 2), (3, 2)], res


def test_clblast():
    p = run_lowbit("bench", "--op", "f16", "--backend", "opencl", "--shapes", "2,64,128", "--baseline", "clblast",
                   *TINY)
    if p.returncode == 2 and "without CLBlast" in p.stderr:
        print("     (this lowbit was built without CLBlast)")
        return
    assert p.returncode == 0, p.stderr
    assert any(line.startswith("clblast") for line in p.stdout.splitlines()), p.stdout


def expect_error(args, needle):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        p = run(["bench"] + args + ["--json", out], expect_rc=2)
        lines = p.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("lowbit: error: ") and needle in lines[-1], p.stderr
        assert sum(1 for l in lines if l.startswith("lowbit: error:")) == 1, p.stderr
        assert not os.path.exists(out), "JSON written on error"


def test_bad_deterministic_env():
    os.environ["LOWBIT_DETERMINISTIC"] = "yes"
    try:
        expect_error(["--op", "f16", "--backend", "cpu", "--shapes", "1,16,64"], "LOWBIT_DETERMINISTIC")
    finally:
        del os.environ["LOWBIT_DETERMINISTIC"]


def main():
    present = backends()
    for b in present:
        for fn in (test_gemm, test_w4a8, test_pipeline, test_deterministic, test_f16, test_copy, test_convert, test_attention, test_attention_kv_columns,
                   test_kv_append):
            check(f"{fn.__name__}[{b}]", lambda fn=fn, b=b: fn(b))
    for b in [b for b in present if b != "cpu"]:
        check(f"test_forced_config[{b}]", lambda b=b: test_forced_config(b))
    if "opencl" in present:
        check("clblast baseline", test_clblast)
    check("bad LOWBIT_DETERMINISTIC", test_bad_deterministic_env)
    check("unknown op", lambda: expect_error(["--op", "gemm", "--backend", "cpu"], "unknown op"))
    check("missing op", lambda: expect_error(["--backend", "cpu"], "--op"))
    check("bad shape", lambda: expect_error(["--op", "f16", "--backend", "cpu", "--shapes", "1,2"], "bad shape"))
    check("bad pipeline", lambda: expect_error(["--op", "w4a16", "--backend", "cpu", "--pipeline", "serail"],
                                              "did you mean 'serial'"))
    check("bad iters", lambda: expect_error(["--op", "copy", "--backend", "cpu", "--iters", "0"], "--iters"))
    check("bad batch", lambda: expect_error(["--op", "attention", "--backend", "cpu", "--batch", "x"], "--batch"))
    check("bad kv heads", lambda: expect_error(["--op", "kv_append", "--backend", "cpu", "--kv-heads", "8,0"],
                                               "--kv-heads"))
    check("bad format", lambda: expect_error(["--op", "convert", "--backend", "cpu", "--formats", "fp7"], "fp7"))
    check("bad config", lambda: expect_error(["--op", "w4a16", "--backend", "cpu", "--config", "variant=x"],
                                             "bad knob 'variant=x'"))
    check("bad baseline", lambda: expect_error(["--op", "f16", "--backend", "cpu", "--baseline", "cublas"], "cublas"))
    check("clblast needs opencl",
          lambda: expect_error(["--op", "f16", "--backend", "cpu", "--baseline", "clblast"], "opencl"))
    return finish(passed, failed)


if __name__ == "__main__":
    sys.exit(main())
