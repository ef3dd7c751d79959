"""cli_harness.py — what every CLI test script shares: a python3 with numpy, the `lowbit` binary from
argv[1], running it (every run fails on a Vulkan validation message: exit code 3), the backends it
reports (absent ones skipped and listed, or failing when $LOWBIT_REQUIRE / $CI require them), an
independent .safetensors reader/writer, and a runner that executes registered test functions in fresh
temp folders and prints "N passed, M failed" (exit 77, CTest's SKIP_RETURN_CODE, when nothing ran).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

try:
    import numpy as np
except ImportError:  # e.g. a pyenv python3 first on PATH: re-run under the system one, which has numpy
    for alt in ("/usr/bin/python3", "/bin/python3"):
        if os.path.exists(alt) and os.path.realpath(alt) != os.path.realpath(sys.executable):
            os.execv(alt, [alt] + sys.argv)
    print(f"{os.path.basename(sys.argv[0])} needs numpy (apt-get install python3-numpy)")
    sys.exit(1)

LOWBIT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/tools/lowbit"
TESTS = []
VALIDATION_EXIT_CODE = 3  # tools/main.cpp: LOWBIT_VK_VALIDATION set and the layer reported something
SKIP_EXIT_CODE = 77       # tests/CMakeLists.txt SKIP_RETURN_CODE
SKIPPED = {}              # backend -> why its cases did not run


def test(fn):
    """Registers a test function fn(tmp: Path); it fails by raising (assert)."""
    TESTS.append(fn)
    return fn


def run_unchecked(*args, env=None):
    """Runs lowbit; returns the CompletedProcess whatever happened."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([LOWBIT, *map(str, args)], capture_output=True, text=True, env=e, timeout=600)


def run(*args, env=None):
    """Runs lowbit; raises AssertionError when it reported a Vulkan validation message."""
    r = run_unchecked(*args, env=env)
    if r.returncode == VALIDATION_EXIT_CODE or "lowbit: validation:" in r.stderr:
        raise AssertionError(f"Vulkan validation message(s) in lowbit {' '.join(map(str, args))} "
                             f"(exit {r.returncode}):\n{r.stderr[-4000:]}")
    return r


def ok(*args, **kw):
    r = run(*args, **kw)
    assert r.returncode == 0, f"lowbit {' '.join(map(str, args))} -> {r.returncode}\n{r.stderr}"
    return r


def backend_reports():
    return {b["backend"]: b for b in json.loads(ok("devices", "--json").stdout)["backends"]}


def required(backend):
    """Whether $CI (set, not 0/false) or $LOWBIT_REQUIRE (comma list) makes an absent backend a failure."""
    if os.environ.get("CI", "") not in ("", "0", "false"):
        return True
    return backend in os.environ.get("LOWBIT_REQUIRE", "").split(",")


def backends():
    """cpu plus every GPU backend `lowbit devices --json` reports available. An absent one is recorded
    as skipped, or raises AssertionError when it is required."""
    reps = backend_reports()
    out = ["cpu"]
    for b in ("vulkan", "opencl"):
        rep = reps.get(b, {})
        if rep.get("available"):
            out.append(b)
        elif required(b):
            raise AssertionError(f"{b} backend required by $CI/$LOWBIT_REQUIRE but absent: {rep.get('reason')}")
        else:
            SKIPPED[b] = rep.get("reason", "not reported")
    return out


def finish(passed, failed):
    """Prints the summary and the skipped backends; the exit code (SKIP_EXIT_CODE when nothing passed)."""
    for b, why in SKIPPED.items():
        print(f"SKIPPED: {b} backend absent ({why}); set LOWBIT_REQUIRE or CI to fail instead")
    print(f"{passed} passed, {failed} failed")
    if failed:
        return 1
    return SKIP_EXIT_CODE if passed == 0 and SKIPPED else 0


ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "U8": np.uint8, "I8": np.int8,
             "I32": np.int32, "U32": np.uint32, "I64": np.int64, "BF16": np.uint16}
NP_TO_ST = {np.dtype(v): k for k, v in ST_DTYPES.items() if k != "BF16"}


def read_st(path):
    """Independent .safetensors reader: (metadata, {name: (dtype, shape, raw bytes)})."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    data = b[8 + n:]
    return meta, {k: (v["dtype"], tuple(v["shape"]), data[v["data_offsets"][0]:v["data_offsets"][1]])
                  for k, v in h.items()}


def st_array(entry):
    dt, shape, raw = entry
    return np.frombuffer(raw, dtype=ST_DTYPES[dt]).reshape(shape)


def read_st_arrays(path):
    """(metadata, {name: np.ndarray})."""
    meta, entries = read_st(path)
    return meta, {k: st_array(v) for k, v in entries.items()}


def write_st(path, tensors, metadata=None):
    """tensors: {name: np.ndarray} or {name: (dtype name, np.ndarray)}."""
    header, off, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        dt, arr = t if isinstance(t, tuple) else (NP_TO_ST[t.dtype], t)
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def expect_error(args, out_path=None, needle=None, env=None):
    """Runs lowbit expecting exit 2, one `lowbit: error:` line last on stderr (containing needle), an
    empty stdout, and no output or temp file left; with logs off the error is the only line."""
    r = run(*args, env=env)
    assert r.returncode == 2, f"expected exit 2, got {r.returncode}: {args}\n{r.stderr}"
    lines = r.stderr.strip().splitlines()
    errs = [l for l in lines if l.startswith("lowbit: error:")]
    assert len(errs) == 1 and lines[-1] == errs[0], f"stderr must end in one error line:\n{r.stderr}"
    if needle:
        assert needle in errs[0], f"'{needle}' not in: {errs[0]}"
    assert r.stdout == "", f"stdout must stay empty on error: {r.stdout!r}"
    if out_path:
        assert not os.path.exists(out_path), f"partial output left: {out_path}"
        d = os.path.dirname(str(out_path))
        if os.path.isdir(d):
            left = [f for f in os.listdir(d) if ".tmp" in f]
            assert not left, f"temp files left: {left}"
    r2 = run(*args, env={**(env or {}), "LOWBIT_LOG": "off"})
    assert r2.returncode == 2 and len(r2.stderr.strip().splitlines()) == 1, r2.stderr
    return errs[0]


def main(prefix="lowbit_cli"):
    """Runs every registered test in its own temp folder; returns the exit code."""
    if not os.path.exists(LOWBIT):
        print(f"lowbit binary not found: {LOWBIT}")
        return 1
    if any(required(b) for b in ("vulkan", "opencl")):
        try:
            backends()  # a required backend that is absent fails at once, before any test
        except AssertionError as e:
            print(f"FAIL required backends\n{e}\n0 passed, 1 failed")
            return 1
    passed = failed = 0
    for fn in TESTS:
        tmp = tempfile.mkdtemp(prefix=f"{prefix}_{fn.__name__}_")
        try:
            fn(Path(tmp))
            passed += 1
            print(f"PASS {fn.__name__}", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return finish(passed, failed)
