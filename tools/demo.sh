#!/usr/bin/env bash
# demo.sh — builds lowbit (cmake + ninja into build/), lists the devices, then
#  1. `lowbit demo`: quantizes a 4096 x 4096 layer to int4 (RTN), runs W4A16 and the fp16 GEMM on every
#     backend present, checks each against the CPU reference and prints times and the speed-up;
#  2. quantizes a generated weight matrix to several formats on the default (best available) backend,
#     converts each back to float32 and prints the error per format.
# $LOWBIT_BUILD_DIR overrides the build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${LOWBIT_BUILD_DIR:-build}"

cmake -S . -B "$BUILD" -G Ninja
cmake --build "$BUILD"
LOWBIT="$BUILD/tools/lowbit"

# A python3 with numpy (the system one if another python3 without numpy comes first on PATH).
PY=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c "import numpy" 2>/dev/null; then PY="$p"; break; fi
done
[ -n "$PY" ] || { echo "demo.sh: needs python3 with numpy (bash tools/install_deps.sh)" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "== lowbit devices"
"$LOWBIT" devices

echo "== lowbit demo: one int4 linear layer (W4A16) vs the fp16 GEMM on every backend, M = 1"
"$LOWBIT" demo

echo "== a 256 x 1000 fp32 weight matrix (normal, std 0.02, a few outliers) -> $TMP/w.npy"
"$PY" - "$TMP/w.npy" <<'PYEOF'
import sys
import numpy as np
rng = np.random.default_rng(0)
w = (rng.standard_normal((256, 1000)) * 0.02).astype(np.float32)
w.flat[rng.choice(w.size, 32, replace=False)] *= 20  # outliers, as real LLM weights have
np.save(sys.argv[1], w)
PYEOF

FORMATS=(e4m3 e5m2 mxfp8_e4m3 mxfp6_e2m3 mxfp4 mxint8 nvfp4)
for f in "${FORMATS[@]}"; do
  echo "== lowbit convert --to $f, then --from $f"
  "$LOWBIT" convert --to "$f" --packed "$TMP/w.npy" "$TMP/w.$f.safetensors"
  "$LOWBIT" convert --from "$f" "$TMP/w.$f.safetensors" "$TMP/w.$f.npy"
done

echo "== error of the round trip per format"
"$PY" - "$TMP" "${FORMATS[@]}" <<'PYEOF'
import os, sys
import numpy as np
tmp, fmts = sys.argv[1], sys.argv[2:]
w = np.load(os.path.join(tmp, "w.npy"))
print(f"{'format':12s} {'bits/value':>10s} {'max abs err':>12s} {'max err/max|w|':>15s} {'rel RMS err':>12s}")
for f in fmts:
    y = np.load(os.path.join(tmp, f"w.{f}.npy"))
    size = os.path.getsize(os.path.join(tmp, f"w.{f}.safetensors"))
    err = np.abs(y.astype(np.float64) - w)
    rms = np.sqrt(np.mean(err ** 2)) / np.sqrt(np.mean(w.astype(np.float64) ** 2))
    print(f"{f:12s} {8 * size / w.size:10.2f} {err.max():12.3e} {err.max() / np.abs(w).max():15.3e} {rms:12.3e}")
PYEOF
