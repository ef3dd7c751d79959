#!/usr/bin/env python3
"""kernel_stats_rdna3.py — the GPU launches of decode attention and of the GEMM, compiled by a real GPU compiler
in CI: RADV's null device (Mesa's radeon driver with RADV_FORCE_FAMILY: it compiles for an AMD family without
one, and runs nothing) through tools/kernel_stats.cpp, which builds the pipelines lowbit's planners choose.

Checked: on RDNA3 (gfx1100, RX 7900 XTX) and RDNA2 (navi21) the default decode launch of every KV format at
Llama-3-8B's shape (Hq 32 / Hkv 8, D 128, 8k) takes 4 head sets (one query head per lane group) and keeps every
register in registers (no spilled VGPRs, no scratch), as it does at GQA 8, head dim 64 / 96 / 256 and batch 16; the
scalar prefill's default tile (512 queries, every head dim), kv_append (a decode step, 512 tokens) and the
default GEMM launches at M = 1 / 16 / 64 / 256 do not spill either; a bad shape or KV format is refused with
exit 2.
Head dim 256 takes fewer keys per step (attn::kGpuMaxStepWords). The launch before both (--config "spread=1
keys=4") spilled 124-360 VGPRs on gfx1100: printed, not asserted.

Usage: python3 tests/kernel_stats_rdna3.py path/to/lowbit_kernel_stats   (exit 77 = skipped: no radeon ICD)
"""
import glob
import os
import re
import subprocess
import sys

SKIP = 77
tool = sys.argv[1]
icds = sorted(glob.glob("/usr/share/vulkan/icd.d/radeon_icd.*.json"))
if not icds:
    print("skipped: no radeon Vulkan ICD (mesa-vulkan-drivers) to compile with")
    sys.exit(SKIP)
failures = []


def stats(family, *args):
    env = dict(os.environ, RADV_FORCE_FAMILY=family, VK_DRIVER_FILES=icds[0], VK_ICD_FILENAMES=icds[0])
    env.pop("LOWBIT_VK_VALIDATION", None)
    p = subprocess.run([tool, *args], env=env, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


def field(text, name):
    m = re.search(r"\b" + re.escape(name) + r"=(\d+)", text)
    return int(m.group(1)) if m else None


def expect_no_spills(family, what, *args, plan=None):
    rc, out = stats(family, *args)
    if rc != 0 or "Null hardware" not in out:
        if rc == 0 or "no Vulkan device" in out:
            print(f"skipped: RADV's null device for {family} is not available here:\n{out}")
            sys.exit(SKIP)
        failures.append(f"{family} {what}: exit {rc}\n{out}")
        return
    spilled, scratch, vgprs = field(out, "Spilled VGPRs"), field(out, "Scratch size"), field(out, "VGPRs")
    print(f"{family:8} {what:36} VGPRs {vgprs}, spilled {spilled}, scratch {scratch}")
    if spilled is None or scratch is None:
        failures.append(f"{family} {what}: no register statistics in\n{out}")
    elif spilled or scratch:
        failures.append(f"{family} {what}: {spilled} VGPRs spilled, {scratch} bytes of scratch\n{out}")
    if plan and plan not in out:
        failures.append(f"{family} {what}: the plan does not say '{plan}'\n{out}")


for family in ("gfx1100", "navi21"):
    for fmt in ("fp16", "int8", "int4", "e4m3", "e5m2"):
        expect_no_spills(family, f"decode {fmt}", "decode", "--kv-format", fmt,
                         plan="heads per lane group 1, head sets 4, lanes per row 16, keys per step 4")
    expect_no_spills(family, "decode int8 GQA 8", "decode", "--kv-format", "int8", "--q-heads", "64")
    expect_no_spills(family, "decode int8 head dim 64", "decode", "--kv-format", "int8", "--head-dim", "64")
    expect_no_spills(family, "decode fp16 head dim 256", "decode", "--kv-format", "fp16", "--head-dim", "256")
    for fmt in ("fp16", "int8"):  # 8 lanes per row, slices of 16 elements: fewer keys, as at 256
        expect_no_spills(family, f"decode {fmt} head dim 96", "decode", "--kv-format", fmt, "--head-dim", "96")
    expect_no_spills(family, "decode int4 batch 16", "decode", "--kv-format", "int4", "--batch", "16")
    for d in ("64", "128", "256"):
        for fmt in ("fp16", "int8", "int4"):
            expect_no_spills(family, f"prefill {fmt} head dim {d}", "prefill", "--kv-format", fmt, "--head-dim", d)
    for fmt in ("fp16", "int8", "int4", "e4m3"):
        for tokens in ("1", "512"):
            expect_no_spills(family, f"kv_append {fmt} {tokens} tokens", "kv_append", "--kv-format", fmt, "--tokens", tokens)
    for shape in ("1,4096,4096", "16,4096,4096", "1,4096,14336", "64,4096,4096", "256,4096,4096"):
        expect_no_spills(family, f"gemm w4a16 {shape}", "gemm", "--shape", shape)
    rc, out = stats(family, "decode", "--kv-format", "int8", "--config", "spread=1 keys=4")
    print(f"{family:8} {'decode int8, one head set (before)':36} VGPRs {field(out, 'VGPRs')}, "
          f"spilled {field(out, 'Spilled VGPRs')}, scratch {field(out, 'Scratch size')}")

rc, out = stats("gfx1100", "gemm", "--shape", "1,4096")
if rc != 2 or "--shape wants M,N,K" not in out:
    failures.append(f"a bad --shape: exit {rc}, expected 2 and a message naming --shape\n{out}")
rc, out = stats("gfx1100", "decode", "--kv-format", "int3")
if rc != 2 or "int3" not in out:
    failures.append(f"a bad --kv-format: exit {rc}, expected 2 and a message naming it\n{out}")

for f in failures:
    print("FAILED:", f)
print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
