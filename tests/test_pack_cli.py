#!/usr/bin/env python3
"""test_pack_cli.py — `lowbit pack` and `lowbit run linear` on real files.

Writes GPTQ (v1 and v2, with and without act_order) and AWQ checkpoints with numpy from the published
layouts, plus a float checkpoint for RTN; packs them, runs a linear layer on every backend present and
checks Y against numpy on the dequantized weights (q - zero) * scale. Bad inputs must exit 2 with one
`lowbit: error:` line and leave no output behind.
Usage: test_pack_cli.py PATH/TO/lowbit
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from cli_harness import backends, finish, np, read_st_arrays, run, write_st  # noqa: E402

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, flush=True)


def read_st(path):
    meta, arrays = read_st_arrays(path)
    return arrays, meta


def known_layer(rng, k, n, group, act_order, zlo, zhi):
    q = rng.integers(0, 16, size=(k, n), dtype=np.int64)
    G = k // group
    z = rng.integers(zlo, zhi + 1, size=(G, n), dtype=np.int64)
    s = (rng.random((G, n)) * 0.02 + 0.001).astype(np.float16)
    order = rng.permutation(k) if act_order else np.arange(k)
    g_idx = np.empty(k, dtype=np.int32)
    g_idx[order] = np.arange(k) // group
    w = (q - z[g_idx, :]).astype(np.float32) * s[g_idx, :].astype(np.float32)  # [k, n]
    return q, z, s, g_idx, w.T.copy()  # W [n, k]


def pack_nibbles(vals, axis_len):
    """vals [..., 8*c] (int) -> int32 [..., c], nibble i = column 8c+i."""
    v = vals.reshape(*vals.shape[:-1], axis_len // 8, 8).astype(np.uint32)
    out = np.zeros(v.shape[:-1], dtype=np.uint32)
    for i in range(8):
        out |= (v[..., i] & 0xF) << (4 * i)
    return out.view(np.int32)


def gptq_tensors(q, z, s, g_idx, version):
    k, n = q.shape
    qweight = pack_nibbles(q.T, k).T.copy()  # [k/8, n]: nibble i = row 8r+i
    qzeros = pack_nibbles(z - (1 if version == 1 else 0), n)
    return {"qweight": qweight, "qzeros": qzeros, "scales": s, "g_idx": g_idx}


def awq_tensors(q, z, s):
    order = [0, 2, 4, 6, 1, 3, 5, 7]
    k, n = q.shape
    perm = np.concatenate([np.array(order) + 8 * c for c in range(n // 8)])
    return {"qweight": pack_nibbles(q[:, perm], n), "qzeros": pack_nibbles(z[:, perm], n), "scales": s}


def check_linear(ckpt, layer, w, bias, tmp, label, extra=()):
    rng = np.random.default_rng(5)
    for m in (1, 3, 17):
        x = rng.standard_normal((m, w.shape[1])).astype(np.float16)
        xp = os.path.join(tmp, "x.npy")
        np.save(xp, x)
        ref = x.astype(np.float64) @ w.astype(np.float64).T + (0 if bias is None else bias.astype(np.float64))
        for be in backends():
            for f16 in (False, True):
                yp = os.path.join(tmp, "y.npy")
                args = ["run", "linear", "--checkpoint", ckpt, "--layer", layer, "--input", xp, "--output", yp,
                        "--backend", be, *extra] + (["--f16"] if f16 else [])
                r = run(*args)
                ok = r.returncode == 0
                check(ok, f"{label} {be} f16={f16} M={m}: exit {r.returncode} {r.stderr.strip()}")
                if not ok:
                    continue
                y = np.load(yp)
                mag = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T
                # fp16 weights (--f16) round W to fp16: allow 2^-11 relative per term
                tol = mag * (2.0 ** -10 if f16 else 1e-5) + 1e-5
                check(y.shape == ref.shape and bool(np.all(np.abs(y - ref) <= tol)),
                      f"{label} {be} f16={f16} M={m}: max err {np.max(np.abs(y - ref)) if y.shape == ref.shape else y.shape}")


def dequantize_packed(packed, name, k, group, sym):
    """W [n, k] = (q - zero) * scale from a packed layer (layout 1: word (kb, n) holds rows 8kb..8kb+7)."""
    qw, sc = packed[f"{name}.qweight"].astype(np.uint32), packed[f"{name}.scales"].astype(np.float32)
    n = qw.shape[1]
    nib = [0, 4, 1, 5, 2, 6, 3, 7]
    codes = np.stack([(qw >> (4 * nib[j])) & 0xF for j in range(8)], axis=1).reshape(-1, n)[:k]  # [k, n]
    zeros = np.full(sc.shape, 8.0, np.float32) if sym else packed[f"{name}.qzeros"].astype(np.float32)
    w = (codes.astype(np.float32) - np.repeat(zeros, group, axis=0)) * np.repeat(sc, group, axis=0)
    return w.T.copy()


def expect_error(args, what, output=None, needles=()):
    r = run(*args)
    lines = [l for l in r.stderr.strip().splitlines() if l.startswith("lowbit: error:")]
    check(r.returncode == 2 and len(lines) == 1, f"{what}: exit {r.returncode}, stderr {r.stderr.strip()!r}")
    for needle in needles:
        check(any(needle in l for l in lines), f"{what}: '{needle}' not in {lines}")
    if output:
        check(not os.path.exists(output), f"{what}: left {output} behind")


def main():
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        k, n = 256, 48
        # GPTQ v1 / v2, act_order or not, config in quantize_config.json or config.json
        for version in (1, 2):
            for act in (False, True):
                d = os.path.join(tmp, f"gptq_v{version}_{int(act)}")
                os.makedirs(d)
                q, z, s, g_idx, w = known_layer(rng, k, n, 64, act, 1 if version == 1 else 0, 16 if version == 1 else 15)
                t = gptq_tensors(q, z, s, g_idx, version)
                bias = rng.standard_normal(n).astype(np.float16)
                tensors = {f"model.layers.0.mlp.up_proj.{key}": val for key, val in t.items()}
                tensors["model.layers.0.mlp.up_proj.bias"] = bias
                tensors["model.norm.weight"] = np.ones(k, dtype=np.float32)
                write_st(os.path.join(d, "model.safetensors"), tensors)
                cfg = {"bits": 4, "group_size": 64, "desc_act": act, "sym": False,
                       "checkpoint_format": "gptq" if version == 1 else "gptq_v2"}
                if version == 1:
                    json.dump(cfg, open(os.path.join(d, "quantize_config.json"), "w"))
                else:
                    json.dump({"quantization_config": dict(cfg, quant_method="gptq")}, open(os.path.join(d, "config.json"), "w"))
                out = os.path.join(tmp, f"packed_gptq{version}{int(act)}.safetensors")
                r = run("pack", "--scheme", "gptq", d, out)
                check(r.returncode == 0, f"pack gptq v{version} act={act}: {r.stderr.strip()}")
                packed, meta = read_st(out)
                check(meta.get("lowbit.scheme") == "w4a16" and meta.get("lowbit.layout") == "1", f"metadata {meta}")
                check("model.norm.weight" in packed and "model.layers.0.mlp.up_proj.bias" in packed, "copied tensors kept")
                check(("model.layers.0.mlp.up_proj.perm" in packed) == act, "perm present iff act_order")
                check_linear(out, "model.layers.0.mlp.up_proj", w, bias, tmp, f"gptq v{version} act={act} packed")
                check_linear(d, "model.layers.0.mlp.up_proj", w, bias, tmp, f"gptq v{version} act={act} on the fly")
        # AWQ (GEMM layout)
        d = os.path.join(tmp, "awq")
        os.makedirs(d)
        q, z, s, g_idx, w = known_layer(rng, k, n, 128, False, 0, 15)
        write_st(os.path.join(d, "model.safetensors"), {f"l0.{key}": v for key, v in awq_tensors(q, z, s).items()})
        json.dump({"quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True,
                                           "version": "gemm"}}, open(os.path.join(d, "config.json"), "w"))
        out = os.path.join(tmp, "packed_awq.safetensors")
        check(run("pack", "--scheme", "awq", d, out).returncode == 0, "pack awq")
        check_linear(out, "l0", w, None, tmp, "awq packed")
        # RTN from float weights, sharded with an index
        d = os.path.join(tmp, "float")
        os.makedirs(d)
        w0 = (rng.standard_normal((40, 96)) * 0.05).astype(np.float32)
        w1 = (rng.standard_normal((24, 64)) * 0.05).astype(np.float16)
        write_st(os.path.join(d, "a.safetensors"), {"l0.weight": w0, "emb": np.zeros((3,), np.float32)})
        write_st(os.path.join(d, "b.safetensors"), {"l1.weight": w1})
        json.dump({"weight_map": {"l0.weight": "a.safetensors", "emb": "a.safetensors", "l1.weight": "b.safetensors"}},
                  open(os.path.join(d, "model.safetensors.index.json"), "w"))
        for sym in ("--sym", "--asym"):
            out = os.path.join(tmp, f"rtn{sym}.safetensors")
            r = run("pack", "--scheme", "rtn", "--group", "32", sym, d, out)
            check(r.returncode == 0, f"pack rtn {sym}: {r.stderr.strip()}")
            packed, meta = read_st(out)
            check(meta.get("lowbit.sym") == ("true" if sym == "--sym" else "false"), f"rtn {sym} metadata")
            check("emb" in packed and "l0.qweight" in packed and "l1.qweight" in packed, "rtn keeps the model whole")
            # dequantized weights from the packed tensors: each within half a step of the original
            qw, sc = packed["l0.qweight"], packed["l0.scales"].astype(np.float32)
            nib = [0, 4, 1, 5, 2, 6, 3, 7]
            codes = np.stack([(qw >> (4 * nib[j])) & 0xF for j in range(8)], axis=1).reshape(-1, 40)[:96]  # [k, n]
            zeros = packed["l0.qzeros"].astype(np.float32) if sym == "--asym" else 8.0
            deq = (codes.astype(np.float32) - np.repeat(zeros if np.ndim(zeros) else np.full((3, 40), 8.0), 32, axis=0)) \
                * np.repeat(sc, 32, axis=0)
            step = np.repeat(sc, 32, axis=0)
            check(bool(np.all(np.abs(deq - w0.T) <= 0.51 * step)), f"rtn {sym} dequantized within half a step")
        # RTN with a group that is not a multiple of the 8-row word (and K = 36 per channel): every
        # backend must match the dequantized weights
        d12 = os.path.join(tmp, "float12")
        os.makedirs(d12)
        wk = {"l12": (rng.standard_normal((40, 96)) * 0.05).astype(np.float32),
              "l36": (rng.standard_normal((16, 36)) * 0.05).astype(np.float32)}
        write_st(os.path.join(d12, "model.safetensors"), {f"{name}.weight": v for name, v in wk.items()})
        for group, sym in (("12", "--asym"), ("12", "--sym"), ("-1", "--asym")):
            out = os.path.join(tmp, f"rtn_g{group}{sym}.safetensors")
            r = run("pack", "--scheme", "rtn", "--group", group, sym, d12, out)
            check(r.returncode == 0, f"pack rtn --group {group} {sym}: {r.stderr.strip()}")
            if r.returncode != 0:
                continue
            packed, _ = read_st(out)
            for name, wf in wk.items():
                g = wf.shape[1] if group == "-1" else int(group)
                check_linear(out, name, dequantize_packed(packed, name, wf.shape[1], g, sym == "--sym"), None, tmp,
                             f"rtn {name} group {group} {sym}")
        # bad input: exit 2, one line, no output left
        gdir = os.path.join(tmp, "gptq_v1_0")
        bad_out = os.path.join(tmp, "bad.safetensors")
        expect_error(["pack", "--scheme", "gptq", "--group", "48", gdir, bad_out], "group not dividing K", bad_out)
        expect_error(["pack", "--scheme", "rtn", "--group", "48", d, bad_out], "rtn group not dividing K", bad_out)
        expect_error(["pack", "--scheme", "awq", gdir, bad_out], "gptq tensors read as awq", bad_out)
        mis = os.path.join(tmp, "mistyped")
        os.makedirs(mis)
        t = gptq_tensors(*known_layer(rng, 64, 16, 32, False, 1, 16)[:4], 1)
        t["scales"] = t["scales"].astype(np.float32)
        write_st(os.path.join(mis, "model.safetensors"), {f"l.{key}": v for key, v in t.items()})
        expect_error(["pack", "--scheme", "gptq", mis, bad_out], "mistyped scales", bad_out)
        t = gptq_tensors(*known_layer(rng, 64, 16, 32, False, 1, 16)[:4], 1)
        del t["qzeros"]
        write_st(os.path.join(mis, "model.safetensors"), {f"l.{key}": v for key, v in t.items()})
        expect_error(["pack", "--scheme", "gptq", mis, bad_out], "missing qzeros", bad_out)
        json.dump({"bits": 4, "group_size": 64, "sym": True}, open(os.path.join(gdir, "quantize_config.json"), "w"))
        expect_error(["pack", "--scheme", "gptq", gdir, bad_out], "config sym disagrees with qzeros", bad_out)
        packed = os.path.join(tmp, "packed_awq.safetensors")
        xp = os.path.join(tmp, "x_bad.npy")
        np.save(xp, np.zeros((2, 100), np.float32))
        yp = os.path.join(tmp, "y_bad.npy")
        expect_error(["run", "linear", "--checkpoint", packed, "--layer", "l0", "--input", xp, "--output", yp,
                      "--backend", "cpu"], "X with the wrong K", yp)
        np.save(xp, np.zeros((2, 256), np.float32))
        expect_error(["run", "linear", "--checkpoint", packed, "--layer", "nope", "--input", xp, "--output", yp,
                      "--backend", "cpu"], "unknown layer", yp)
        # a lowbit checkpoint whose lowbit.layers metadata lies about its types: the file and key are named
        tensors, meta = read_st(packed)
        meta["lowbit.layers"] = json.dumps({"l0": {"n": "48", "k": 256, "group": 128, "sym": False}})
        liar = os.path.join(tmp, "liar.safetensors")
        write_st(liar, tensors, meta)
        expect_error(["run", "linear", "--checkpoint", liar, "--layer", "l0", "--input", xp, "--output", yp,
                      "--backend", "cpu"], "mistyped lowbit.layers", yp, ("liar.safetensors", "lowbit.layers", "'n'"))
        # the same tensor in two shards is refused, not merged
        two = os.path.join(tmp, "two_shards")
        os.makedirs(two)
        write_st(os.path.join(two, "a.safetensors"), {"l0.weight": w0, "x": np.zeros((2,), np.float32)})
        write_st(os.path.join(two, "b.safetensors"), {"x": np.ones((2,), np.float32)})
        expect_error(["pack", "--scheme", "rtn", "--group", "32", two, bad_out], "tensor in two shards", bad_out,
                     ("'x'", "a.safetensors", "b.safetensors"))
        # an output that would overwrite an input: refused, the input untouched
        shards = {f: open(os.path.join(d, f), "rb").read() for f in ("a.safetensors", "b.safetensors")}
        os.symlink(os.path.join(d, "b.safetensors"), os.path.join(tmp, "b_link.safetensors"))
        for inp, outp in ((d, os.path.join(d, "a.safetensors")), (d, os.path.join(tmp, "b_link.safetensors")),
                          (os.path.join(d, "b.safetensors"), os.path.join(d, "b.safetensors")),
                          (os.path.join(d, "b.safetensors"), os.path.join(d, "..", "float", "b.safetensors"))):
            expect_error(["pack", "--scheme", "rtn", "--group", "32", inp, outp], f"pack {inp} -> {outp}",
                         needles=("would overwrite the input",))
        check(all(open(os.path.join(d, f), "rb").read() == b for f, b in shards.items()), "pack left its inputs intact")
        x_before = open(xp, "rb").read()
        expect_error(["run", "linear", "--checkpoint", packed, "--layer", "l0", "--input", xp, "--output", xp,
                      "--backend", "cpu"], "run linear --output = --input", needles=("would overwrite the input",))
        check(open(xp, "rb").read() == x_before, "run linear left its input intact")
    return finish(passed, failed)


if __name__ == "__main__":
    sys.exit(main())
