#!/usr/bin/env python3
# make_seeds.py — writes the small seed files of tests/fuzz/corpus/ (committed; rerun only to change them):
#   python3 tests/fuzz/make_seeds.py build/tools/lowbit
# .npy seeds from numpy, safetensors and checkpoint seeds from the built `lowbit` (convert, pack), config /
# index json as GPTQ and AWQ models ship them, and cache files from a Vulkan / OpenCL run of that binary.
import json, os, pathlib, shutil, struct, subprocess, sys, tempfile
import numpy as np

lowbit = sys.argv[1]
corpus = pathlib.Path(__file__).resolve().parent / "corpus"
tmp = pathlib.Path(tempfile.mkdtemp())


def put(kind, name, data):
    d = corpus / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def run(*args, env=None):
    subprocess.run([lowbit, *map(str, args)], check=True, env=env, stdout=subprocess.DEVNULL)


def npy_bytes(a):
    p = tmp / "a.npy"
    np.save(p, a)
    return p.read_bytes()


# .npy: each dtype lowbit reads, 0-d, 1-d, 2-d, empty
rng = np.random.default_rng(1)
for name, a in {"f4_2x3": rng.standard_normal((2, 3)).astype("<f4"), "f2_4": np.arange(4, dtype="<f2"),
                "f8_scalar": np.array(1.5), "u1_3x1": np.arange(3, dtype="u1").reshape(3, 1),
                "i4_empty": np.zeros((0, 5), dtype="<i4"), "i8_2": np.array([1, -2], dtype="<i8")}.items():
    put("npy", name + ".npy", npy_bytes(a))

# safetensors and converted / packed checkpoints, written by lowbit itself
x = tmp / "x.npy"
np.save(x, rng.standard_normal((2, 32)).astype("<f4"))
for fmt, packed in [("e4m3", False), ("mxfp4", True), ("nvfp4", False), ("mxfp6_e3m2", True)]:
    out = tmp / f"{fmt}.safetensors"
    run("convert", "--backend", "cpu", "--to", fmt, *(["--packed"] if packed else []), x, out)
    put("safetensors", out.name, out.read_bytes())
    put("checkpoint", out.name, out.read_bytes())
model = tmp / "model.safetensors"
w = rng.standard_normal((8, 32)).astype("<f4")
hdr = {"l.weight": {"dtype": "F32", "shape": [8, 32], "data_offsets": [0, w.nbytes]},
       "l.bias": {"dtype": "F32", "shape": [8], "data_offsets": [w.nbytes, w.nbytes + 32]},
       "__metadata__": {"format": "pt"}}
h = json.dumps(hdr).encode()
model.write_bytes(struct.pack("<Q", len(h)) + h + w.tobytes() + np.ones(8, "<f4").tobytes())
put("safetensors", "float_model.safetensors", model.read_bytes())
for sym in ["--sym", "--asym"]:
    out = tmp / f"w4{sym}.safetensors"
    run("pack", "--scheme", "rtn", "--group", "16", sym, model, out)
    put("checkpoint", f"w4_rtn{sym[1:]}.safetensors", out.read_bytes())
# a GPTQ layer (K 32, N 8, group 32) as AutoGPTQ stores it
parts = {"layer.qweight": ("I32", [4, 8], np.full((4, 8), 0x76543210, "<i4")),
         "layer.qzeros": ("I32", [1, 1], np.full((1, 1), 0x77777777, "<i4")),
         "layer.scales": ("F16", [1, 8], np.ones((1, 8), "<f2")), "layer.g_idx": ("I32", [32], np.zeros(32, "<i4"))}
hdr, data, off = {}, b"", 0
for k, (dt, shape, a) in parts.items():
    hdr[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + a.nbytes]}
    data += a.tobytes()
    off += a.nbytes
h = json.dumps(hdr).encode()
put("checkpoint", "gptq_layer.safetensors", struct.pack("<Q", len(h)) + h + data)

# model json (first byte: 0 quantize_config.json, 1 config.json, 2 model.safetensors.index.json)
put("model_config", "quantize_config.json", b"\0" + json.dumps(
    {"bits": 4, "group_size": 32, "desc_act": False, "sym": True, "checkpoint_format": "gptq"}).encode())
put("model_config", "config_gptq.json", b"\1" + json.dumps(
    {"architectures": ["LlamaForCausalLM"], "quantization_config": {"quant_method": "gptq", "bits": 4,
     "group_size": 32, "sym": False, "checkpoint_format": "gptq_v2"}}).encode())
put("model_config", "config_awq.json", b"\1" + json.dumps(
    {"quantization_config": {"quant_method": "awq", "bits": 4, "q_group_size": 32, "zero_point": True}}).encode())
put("model_config", "index.json", b"\2" + json.dumps(
    {"metadata": {"total_size": 264}, "weight_map": {k: "model-00001-of-00001.safetensors" for k in parts}}).encode())

# cache files written by real runs of the built binary
cache = tmp / "cache"
env = dict(os.environ, LOWBIT_CACHE_DIR=str(cache))
for backend, kind, pattern in [("vulkan", "vk_pipeline_cache", "vk-pipelines-*.bin"),
                               ("opencl", "cl_program_cache", "opencl-*.bin")]:
    shutil.rmtree(cache, ignore_errors=True)
    out = tmp / f"{backend}.safetensors"
    run("convert", "--backend", backend, "--to", "e4m3", x, out, env=env)
    files = sorted(cache.glob(pattern), key=lambda p: p.stat().st_size)
    put(kind, f"{backend}_cache.bin", files[0].read_bytes())
put("vk_pipeline_cache", "header_only.bin", struct.pack("<II", 32, 1) + bytes(24))
shutil.rmtree(tmp)
for d in sorted(corpus.iterdir()):
    print(d.name, sum(f.stat().st_size for f in d.iterdir()), "bytes in", len(list(d.iterdir())), "files")
