#!/usr/bin/env python3
"""test_real_model_script.py — bench/real_model.py offline, on a generated BERT-shaped float checkpoint: every
linear layer of the blocks is packed (embeddings are not; a BOOL tensor lowbit cannot read is dropped first),
run on every backend present, and its error
against fp32 is that of int4 RTN (small, not zero); a corrupted packed weight would show as a large error.
Usage: test_real_model_script.py PATH/TO/lowbit
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from cli_harness import LOWBIT, backends, main, np, test, write_st  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "real_model.py")
LAYERS = {"encoder.layer.0.attention.self.query": (64, 64), "encoder.layer.0.intermediate.dense": (128, 64),
          "encoder.layer.0.output.dense": (64, 128), "pooler.dense": (64, 64)}


def bert_like(path):
    rng = np.random.default_rng(5)
    t = {"embeddings.word_embeddings.weight": rng.standard_normal((100, 64)).astype(np.float32),
         "encoder.layer.0.output.LayerNorm.weight": np.ones(64, np.float32),
         "embeddings.position_ids": ("I64", np.arange(16, dtype=np.int64).reshape(1, 16)),  # copied by pack
         "embeddings.mask": ("BOOL", np.ones((1, 16), np.uint8))}  # lowbit reads no BOOL: dropped
    for name, (n, k) in LAYERS.items():
        t[name + ".weight"] = (rng.standard_normal((n, k)) * 0.05).astype(np.float32)
        t[name + ".bias"] = (rng.standard_normal(n) * 0.01).astype(np.float32)
    write_st(path, t)


@test
def real_model_script_reports_every_layer_on_every_backend(tmp):
    bert_like(tmp / "model.safetensors")
    r = subprocess.run([sys.executable, SCRIPT, "--lowbit", LOWBIT, "--checkpoint", tmp / "model.safetensors",
                        "--group", "32", "--m", "3", "--repeat", "1", "--work", tmp / "work"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "dropping embeddings.mask (BOOL)" in r.stderr and "position_ids" not in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    rows = {l.split()[0]: l.split() for l in lines if l.split() and l.split()[0] in LAYERS}
    assert set(rows) == set(LAYERS), r.stdout
    assert "embeddings" not in r.stdout.split("linear layers")[1], "embeddings are not linear layers"
    for name, cols in rows.items():
        n, k = LAYERS[name]
        assert cols[1] == f"{n}x{k}", cols
        err = float(cols[2])
        assert 1e-3 < err < 0.15, f"{name}: int4 RTN error {err} vs fp32"
        assert len(cols) == 3 + 3 * len(backends()), cols  # w4 ms, f16 ms, speed-up per backend
    assert any(l.startswith("all layers") for l in lines), r.stdout
    assert not os.listdir(tmp / "work") or all(not f.endswith(".tmp") for f in os.listdir(tmp / "work"))


if __name__ == "__main__":
    sys.exit(main("lowbit_real_model"))
