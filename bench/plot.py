#!/usr/bin/env python3
"""plot.py — plots `lowbit bench --json` results: speed-up vs fp16 against M per op (left) and achieved
GB/s against M with each device's copy bandwidth (the roofline's memory peak) as a dashed line (right).
One line per (device, op, N x K / KV format). Needs matplotlib (Debian: python3-matplotlib).

Usage: /usr/bin/python3 bench/plot.py OUT.json [more.json ...] -o plot.png
"""
import argparse
import json
import sys
from collections import defaultdict

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot.py: error: needs matplotlib (apt-get install python3-matplotlib; run with /usr/bin/python3)")


def device_label(doc):
    return f"{doc['device']['backend']}:{doc['device']['name'].split(' (')[0][:20]}"


def series_key(doc, r):
    dev = device_label(doc)
    if r["op"] == "attention":
        return f"{dev} attention {r['kv_format']} ctx={r['context']} {r['config']}"
    return f"{dev} {r['op']} {r['n']}x{r['k']}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+", help="lowbit bench --json outputs")
    ap.add_argument("-o", "--output", required=True, help="picture to write (.png, .svg, ...)")
    a = ap.parse_args()
    speed, bw, peaks, names = defaultdict(list), defaultdict(list), {}, {}
    for path in a.json:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit(f"plot.py: error: {path}: {e}")
        dev = device_label(doc)
        names[dev] = doc["device"]["name"]
        peaks[dev] = doc.get("roofline", {}).get("peak_gbps", 0)
        for r in doc["results"]:
            if r.get("error") or r["op"] in ("copy", "convert"):
                continue
            key = series_key(doc, r)
            if r.get("speedup_vs_f16") is not None and r["op"] != "f16" and not (
                    r["op"] == "attention" and r["kv_format"] == "fp16"):
                speed[key].append((r["m"], r["speedup_vs_f16"]))
            bw[key].append((r["m"], r["gbps"]))
    if not bw:
        sys.exit("plot.py: error: no measured GEMM/attention rows in the input")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    for key, pts in sorted(speed.items()):
        pts.sort()
        ax1.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=key)
    ax1.axhline(1.0, color="gray", lw=1, ls=":")
    ax1.set(xscale="log", xlabel="M (tokens)", ylabel="speed-up vs fp16 (same run, same device)",
            title="Speed-up vs fp16")
    for key, pts in sorted(bw.items()):
        pts.sort()
        ax2.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=key)
    for i, (dev, peak) in enumerate(sorted(peaks.items())):
        if peak:
            ax2.axhline(peak, color=f"C{i}", ls="--", lw=1, label=f"{dev} copy {peak:.1f} GB/s")
    ax2.set(xscale="log", yscale="log", xlabel="M (tokens)", ylabel="GB/s", title="Bandwidth vs roofline (copy)")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6, loc="best")
    fig.suptitle("; ".join(f"{d} = {n}" for d, n in sorted(names.items())), fontsize=9)
    fig.tight_layout()
    fig.savefig(a.output, dpi=110)
    print(f"plot.py: wrote {a.output}")


if __name__ == "__main__":
    main()
