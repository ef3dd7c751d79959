#!/usr/bin/env bash
# sweep.sh — the standard benchmark suite on one backend/device: GEMM layer shapes of Llama-3-8B and
# Qwen2-7B (decode M = 1, 8, 16; prefill M = 64, 256, 1024), W4A16 vs fp16 (+ CLBlast on OpenCL when
# built), attention (decode and prefill, fp16/int8/int4/e4m3 KV) and convert; writes one JSON per
# device into OUT_DIR as <backend>_<device>.json (all three runs' rows), plus its plot (.png).
#
#   bash bench/sweep.sh [--backend B] [--device D] [--out DIR] [--lowbit PATH] [--quick]
#
# --quick: small shapes and few iterations (a smoke test, ~2 minutes on lavapipe/PoCL on 2 cores).
# The full suite takes about 1–3 minutes on a discrete GPU; on CPU drivers (lavapipe, PoCL) and the CPU
# backend it takes hours (fp16 GEMMs of 14336 x 4096 at M = 1024), so use --quick there.
set -euo pipefail

BACKEND=auto DEVICE="" OUT=bench-results LOWBIT=build/tools/lowbit QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKEND="$2"; shift 2 ;;
    --device) DEVICE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --lowbit) LOWBIT="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "sweep.sh: error: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
DEV=(--backend "$BACKEND")
[ -n "$DEVICE" ] && DEV+=(--device "$DEVICE")

# Layer shapes (N,K): Llama-3-8B q/o 4096x4096, k/v 1024x4096, gate/up 14336x4096, down 4096x14336;
# Qwen2-7B q/o 3584x3584, k/v 512x3584, gate/up 18944x3584, down 3584x18944.
LAYERS="4096,4096 1024,4096 14336,4096 4096,14336 3584,3584 512,3584 18944,3584 3584,18944"
MS="1 8 16 64 256 1024"
ITERS=(--warmup 3 --iters 10)
ATT=(--batch 1,8 --context 1024,4096 --q-len 1,512 --q-heads 32 --kv-heads 8 --head-dim 128)
CONV="4096,4096;14336,4096"
if [ "$QUICK" = 1 ]; then
  LAYERS="512,512 1024,512"
  MS="1 8 64"
  ITERS=(--warmup 1 --iters 5 --copy-mib 32)
  ATT=(--batch 1 --context 256 --q-len 1,32 --q-heads 8 --kv-heads 2 --head-dim 64)
  CONV="512,512"
fi
SHAPES=""
for nk in $LAYERS; do for m in $MS; do SHAPES+="${SHAPES:+;}$m,$nk"; done; done

# File name from the device the backend picks.
NAME=$("$LOWBIT" bench --op copy "${DEV[@]}" --copy-mib 1 --iters 1 --warmup 0 2>/dev/null | sed -n 's/^device: //p' |
       sed 's/ (.*//; s/[^A-Za-z0-9]\+/_/g; s/^_//; s/_$//')
BASE="$OUT/${BACKEND}_${NAME:-device}"
EXTRA=()
if "$LOWBIT" bench --op f16 "${DEV[@]}" --shapes 1,64,128 --iters 1 --warmup 0 --copy-mib 1 --peak-shape 0 \
     --baseline clblast >/dev/null 2>&1; then
  EXTRA=(--baseline clblast)
fi

start=$(date +%s)
"$LOWBIT" bench --op w4a16 "${DEV[@]}" "${ITERS[@]}" --shapes "$SHAPES" "${EXTRA[@]}" --json "$BASE.w4a16.json"
"$LOWBIT" bench --op attention "${DEV[@]}" "${ITERS[@]}" "${ATT[@]}" --json "$BASE.attention.json"
"$LOWBIT" bench --op convert "${DEV[@]}" "${ITERS[@]}" --shapes "$CONV" --peak-shape 0 --json "$BASE.convert.json"
# One JSON per device: the three runs' rows (one copy row), the best compute peak of the three.
/usr/bin/python3 - "$BASE" <<'PY'
import json, os, sys
base = sys.argv[1]
parts = [base + s for s in (".w4a16.json", ".attention.json", ".convert.json")]
docs = [json.load(open(p)) for p in parts]
out = docs[0]
out["roofline"] = max((d["roofline"] for d in docs), key=lambda r: r["peak_tflops"])
out["roofline"]["peak_gbps"] = docs[0]["roofline"]["peak_gbps"]
out["results"] = docs[0]["results"] + [r for d in docs[1:] for r in d["results"] if r["op"] != "copy"]
with open(base + ".json.tmp", "w") as f:
    json.dump(out, f, indent=2)
os.replace(base + ".json.tmp", base + ".json")
for p in parts:
    os.remove(p)
PY
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$(dirname "$0")/plot.py" "$BASE.json" -o "$BASE.png"
fi
echo "sweep.sh: wrote $BASE.json in $(( $(date +%s) - start )) s" >&2
