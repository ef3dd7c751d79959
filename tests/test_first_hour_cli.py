#!/usr/bin/env python3
"""test_first_hour_cli.py — what a new user meets in the first hour (issue 15): a --device that does not
exist is an error listing every backend's devices, auto's CPU fallback is a warning, outputs are checked
before any work, typos get a suggestion, report commands keep logs at warning level, `run` prints a summary,
float64 .npy inputs work, an F32 bias stays fp32, and `devices` / bench JSON report sane values.
Usage: test_first_hour_cli.py PATH/TO/lowbit
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))
from cli_harness import backends, expect_error, main, np, ok, run, test, write_st  # noqa: E402

# No GPU driver can be found with these: Vulkan's loader and OpenCL's ICD loader look where they point.
NO_GPU_DRIVERS = {"VK_ICD_FILENAMES": "/nonexistent/icd.json", "VK_DRIVER_FILES": "/nonexistent/icd.json",
                  "OCL_ICD_VENDORS": "/nonexistent/vendors", "OPENCL_VENDOR_PATH": "/nonexistent/vendors"}


def env_without_log(**extra):
    """The environment with LOWBIT_LOG unset (the default level), plus extra variables."""
    e = {k: v for k, v in os.environ.items() if k != "LOWBIT_LOG"}
    e.update(extra)
    return e


def run_clean_env(*args, **extra):
    """Runs lowbit with LOWBIT_LOG unset."""
    import subprocess
    from cli_harness import LOWBIT
    return subprocess.run([LOWBIT, *map(str, args)], capture_output=True, text=True, env=env_without_log(**extra),
                          timeout=600)


def weights_npy(tmp, dtype=np.float32):
    x = (np.random.default_rng(0).standard_normal((8, 64)) * 0.1).astype(dtype)
    np.save(tmp / "x.npy", x)
    return tmp / "x.npy"


def rtn_checkpoint(tmp, n=24, k=64, bias_dtype=None, bias_values=None):
    """A float checkpoint with one layer l0 [n, k] (and l0.bias when bias_dtype is given), packed with RTN."""
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((n, k)) * 0.05).astype(np.float32)
    tensors = {"l0.weight": w}
    if bias_dtype is not None:
        tensors["l0.bias"] = bias_values.astype(bias_dtype)
    write_st(tmp / "float.safetensors", tensors)
    ok("pack", "--scheme", "rtn", "--group", "32", tmp / "float.safetensors", tmp / "w4.safetensors")
    return tmp / "w4.safetensors"


# 1. A device the user named that no backend has is an error, whatever --backend says.
@test
def unknown_device_index_is_an_error_on_every_backend_flag(tmp):
    x = weights_npy(tmp)
    for b in ["auto", "cpu"] + backends()[1:]:
        err = expect_error(["convert", "--to", "e4m3", "--backend", b, "--device", "7", x, tmp / "o.safetensors"],
                           tmp / "o.safetensors", "no device matches --device '7'")
        for name in ("vulkan:", "opencl:", "cpu: 0:"):
            assert name in err, f"--backend {b}: the error must list every backend's devices ({name}): {err}"


@test
def unknown_device_name_is_an_error(tmp):
    x = weights_npy(tmp)
    expect_error(["convert", "--to", "e4m3", "--device", "nvidia", x, tmp / "o.safetensors"], tmp / "o.safetensors",
                 "no device matches --device 'nvidia'")
    q = tmp / "q.npy"
    np.save(q, np.ones((1, 1, 2, 64), np.float32))
    expect_error(["run", "attention", "--q", q, "--k", q, "--v", q, "--kv-format", "int8", "--output",
                  tmp / "o.npy", "--device", "nvidia"], tmp / "o.npy", "no device matches")


@test
def auto_falls_back_to_cpu_with_a_warning_when_no_gpu_driver_works(tmp):
    x = weights_npy(tmp)
    r = run_clean_env("convert", "--to", "e4m3", x, tmp / "o.safetensors", **NO_GPU_DRIVERS)
    assert r.returncode == 0, r.stderr
    warn = [l for l in r.stderr.splitlines() if l.startswith("[lowbit warning]") and "CPU reference" in l]
    assert warn, f"the CPU fallback must be a warning with the reason:\n{r.stderr}"
    assert "vulkan:" in warn[0] and "opencl:" in warn[0], warn[0]
    # A device named while no GPU driver works is still an error.
    expect_error(["convert", "--to", "e4m3", "--device", "1", x, tmp / "o2.safetensors"], tmp / "o2.safetensors",
                 "no device matches", env=NO_GPU_DRIVERS)


# 2. Every output location is checked before any work (no device brought up, no benchmark run).
def expect_error_before_work(args, needle):
    err = expect_error(args, None, needle, env={"LOWBIT_LOG": "debug"})
    r = run(*args, env={"LOWBIT_LOG": "debug"})
    lines = r.stderr.strip().splitlines()
    assert lines == [err], f"work was done before the error:\n{r.stderr}"


@test
def bench_json_in_a_missing_folder_fails_before_benchmarking(tmp):
    expect_error_before_work(["bench", "--op", "copy", "--copy-mib", "1", "--iters", "1", "--json",
                              "/no/such/dir/b.json"], "/no/such/dir")


@test
def run_linear_output_in_a_missing_folder_fails_before_anything(tmp):
    ckpt = rtn_checkpoint(tmp)
    x = tmp / "x.npy"
    np.save(x, np.ones((2, 64), np.float32))
    expect_error_before_work(["run", "linear", "--checkpoint", ckpt, "--layer", "l0", "--input", x, "--output",
                              "/no/such/dir/y.npy"], "/no/such/dir")


@test
def run_attention_output_in_a_missing_folder_fails_before_anything(tmp):
    q = tmp / "q.npy"
    np.save(q, np.ones((1, 1, 2, 64), np.float32))
    expect_error_before_work(["run", "attention", "--q", q, "--k", q, "--v", q, "--kv-format", "int8", "--output",
                              "/no/such/dir/o.npy"], "/no/such/dir")


# 4. Report commands keep logs at warning level; run prints one summary line; pack its summary once.
@test
def report_commands_log_at_warning_level_by_default(tmp):
    r = run_clean_env("devices")
    assert r.returncode == 0 and "[lowbit info]" not in r.stderr, r.stderr
    r = run_clean_env("pack", "--scheme", "rtn", "--group", "32", rtn_checkpoint(tmp).parent / "float.safetensors",
                      tmp / "again.safetensors")
    assert r.returncode == 0, r.stderr
    assert "[lowbit info]" not in r.stderr, f"pack must not log at info by default:\n{r.stderr}"
    assert r.stdout.count("packed 1 layer") == 1 and "packed" not in r.stderr, (r.stdout, r.stderr)
    r = run_clean_env("devices", LOWBIT_LOG="info")
    assert r.returncode == 0


@test
def run_linear_and_attention_print_a_summary_line(tmp):
    ckpt = rtn_checkpoint(tmp)
    np.save(tmp / "x.npy", np.ones((3, 64), np.float32))
    for b in backends():
        r = run_clean_env("run", "linear", "--checkpoint", ckpt, "--layer", "l0", "--input", tmp / "x.npy",
                          "--output", tmp / "y.npy", "--backend", b)
        assert r.returncode == 0, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("run linear: X [3, 64]") and f"on {b} (" in lines[0] \
            and "Y [3, 24]" in lines[0] and lines[0].endswith("ms device time"), r.stderr
    q = tmp / "q.npy"
    np.save(q, np.ones((1, 2, 2, 64), np.float32))
    r = run_clean_env("run", "attention", "--q", q, "--k", q, "--v", q, "--kv-format", "int4", "--output", tmp / "o.npy")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("run attention: Q [1, 2, 2, 64]") and "ms device time" in lines[0], \
        r.stderr


# 5. Typos and help.
@test
def unknown_option_suggests_the_closest_one(tmp):
    x = weights_npy(tmp)
    err = expect_error(["convert", "--too", "e4m3", x, tmp / "o.safetensors"], tmp / "o.safetensors")
    assert err == "lowbit: error: unknown option '--too'; did you mean '--to'? (see lowbit convert --help)", err
    err = expect_error(["run", "linear", "--chekpoint", "c.safetensors"], None)
    assert "unknown option '--chekpoint'; did you mean '--checkpoint'?" in err, err
    err = expect_error(["bench", "--op", "copy", "--zzzzzzzz", "1"], None)
    assert "unknown option '--zzzzzzzz'" in err and "did you mean" not in err, err


@test
def run_without_an_op_lists_the_ops(tmp):
    err = expect_error(["run"], None)
    assert "linear" in err and "attention" in err, err
    err = expect_error(["run", "lineer", "--checkpoint", "c.safetensors"], None)
    assert "unknown op 'lineer'" in err and "linear, attention" in err, err
    assert ok("run", "--help").stdout


@test
def bogus_log_level_is_a_warning(tmp):
    r = run("devices", env={"LOWBIT_LOG": "bogus"})
    assert r.returncode == 0, r.stderr
    assert "[lowbit warning] LOWBIT_LOG='bogus' is not a log level" in r.stderr, r.stderr


# 6. float64 .npy (numpy's default) is accepted wherever float32 is.
@test
def float64_npy_converts_like_float32(tmp):
    x64 = np.random.default_rng(1).standard_normal((4, 40)) * 3
    np.save(tmp / "x64.npy", x64)
    np.save(tmp / "x32.npy", x64.astype(np.float32))
    r = run("convert", "--to", "mxfp4", tmp / "x64.npy", tmp / "o64.safetensors", env={"LOWBIT_LOG": "info"})
    assert r.returncode == 0, r.stderr
    assert "float64 converted to float32" in r.stderr, r.stderr
    ok("convert", "--to", "mxfp4", tmp / "x32.npy", tmp / "o32.safetensors")
    from cli_harness import read_st
    a, b = read_st(tmp / "o64.safetensors")[1], read_st(tmp / "o32.safetensors")[1]
    assert a.keys() == b.keys() and all(a[k][2] == b[k][2] for k in a), "float64 input must give float32's codes"


@test
def float64_npy_runs_linear_and_attention(tmp):
    ckpt = rtn_checkpoint(tmp)
    x64 = np.random.default_rng(2).standard_normal((3, 64))
    np.save(tmp / "x64.npy", x64)
    np.save(tmp / "x32.npy", x64.astype(np.float32))
    for b in backends():
        ok("run", "linear", "--checkpoint", ckpt, "--layer", "l0", "--input", tmp / "x64.npy", "--output",
           tmp / "y64.npy", "--backend", b)
        ok("run", "linear", "--checkpoint", ckpt, "--layer", "l0", "--input", tmp / "x32.npy", "--output",
           tmp / "y32.npy", "--backend", b)
        assert np.array_equal(np.load(tmp / "y64.npy"), np.load(tmp / "y32.npy")), b
    q = np.random.default_rng(3).standard_normal((1, 2, 2, 64))
    np.save(tmp / "q64.npy", q)
    np.save(tmp / "q32.npy", q.astype(np.float32))
    for name in ("q64", "q32"):
        ok("run", "attention", "--q", tmp / f"{name}.npy", "--k", tmp / f"{name}.npy", "--v", tmp / f"{name}.npy",
           "--kv-format", "int8", "--output", tmp / f"o_{name}.npy", "--backend", "cpu")
    assert np.array_equal(np.load(tmp / "o_q64.npy"), np.load(tmp / "o_q32.npy"))


@test
def run_linear_uses_an_f32_bias_at_fp32_precision(tmp):
    bias = (1000.0 + 0.1234567 * np.arange(24)).astype(np.float32)  # fp16 would round these to steps of 0.5
    ckpt = rtn_checkpoint(tmp, bias_dtype=np.float32, bias_values=bias)
    np.save(tmp / "x0.npy", np.zeros((2, 64), np.float32))
    for b in backends():
        for extra in ([], ["--f16"]):
            ok("run", "linear", "--checkpoint", ckpt, "--layer", "l0", "--input", tmp / "x0.npy", "--output",
               tmp / "y.npy", "--backend", b, *extra)
            y = np.load(tmp / "y.npy")
            assert np.array_equal(y, np.broadcast_to(bias, y.shape)), f"{b} {extra}: {y[0, :4]} vs {bias[:4]}"
    # An F16 bias keeps working (and is exact in fp16).
    bias16 = (np.arange(24) * 0.5).astype(np.float16)
    ckpt = rtn_checkpoint(tmp, bias_dtype=np.float16, bias_values=bias16)
    ok("run", "linear", "--checkpoint", ckpt, "--layer", "l0", "--input", tmp / "x0.npy", "--output", tmp / "y.npy")
    assert np.array_equal(np.load(tmp / "y.npy")[1], bias16.astype(np.float32))


# 7. Progress on long work: a bar on stderr when it is a terminal, nothing when it is not.
BENCH_QUICK = ["bench", "--op", "convert", "--formats", "e4m3,mxfp4", "--shapes", "64,64", "--iters", "1",
               "--warmup", "0", "--copy-mib", "1", "--backend", "cpu"]


@test
def bench_draws_a_progress_bar_only_on_a_terminal(tmp):
    import pty
    import subprocess
    from cli_harness import LOWBIT
    master, slave = pty.openpty()
    p = subprocess.Popen([LOWBIT, *BENCH_QUICK], stdout=subprocess.PIPE, stderr=slave, env=env_without_log())
    os.close(slave)
    tty_err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        tty_err += chunk
    out, _ = p.communicate(timeout=600)
    os.close(master)
    assert p.returncode == 0, tty_err
    text = tty_err.decode()
    assert "\r" in text and "bench convert" in text and "rows" in text and "done in" in text, repr(text)
    assert "format" in out.decode() or "convert" in out.decode(), out
    r = run_clean_env(*BENCH_QUICK)  # stderr is a pipe here
    assert r.returncode == 0 and r.stderr == "", f"nothing may be drawn on a pipe: {r.stderr!r}"


# 9. Odds and ends.
@test
def cpu_device_reports_its_real_buffer_limit(tmp):
    reps = {b["backend"]: b for b in json.loads(ok("devices", "--json").stdout)["backends"]}
    limit = reps["cpu"]["devices"][0]["max_buffer_range"]
    mem_total = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1]) * 1024
    assert 0 < limit <= mem_total, f"cpu max_buffer_range {limit} vs MemTotal {mem_total}"
    assert "4194304 TiB" not in ok("devices").stdout


@test
def bench_json_writes_counts_as_integers(tmp):
    ok("bench", "--op", "copy", "--copy-mib", "1", "--iters", "1", "--warmup", "0", "--peak-shape", "0",
       "--backend", "cpu", "--json", tmp / "b.json")
    text = open(tmp / "b.json").read()
    res = json.loads(text)["results"]
    assert res and all(isinstance(r["bytes"], int) and isinstance(r["flops"], int) for r in res), text


if __name__ == "__main__":
    sys.exit(main("lowbit_first_hour"))
