#!/usr/bin/env bash
# demo.sh — builds the `lowbit` CLI only (cmake + ninja into build/, tests off), lists the devices, then
#  1. `lowbit demo`: quantizes a 4096 x 4096 layer to int4 (RTN), runs W4A16 and the fp16 GEMM on every
#     backend present, checks each against the CPU reference and prints times and the speed-up;
#  2. quantizes a generated weight matrix to several formats on the default (best available) backend,
#     converts each back to float32 and prints the error per format.
# $LOWBIT_BUILD_DIR overrides the build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${LOWBIT_BUILD_DIR:-build}"
export LOWBIT_LOG="${LOWBIT_LOG:-warn}"  # the tables, not the logs (LOWBIT_LOG=info shows them)

cmake -S . -B "$BUILD" -G Ninja -DLOWBIT_BUILD_TESTS=OFF
cmake --build "$BUILD" --target lowbit_cli
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

echo "== error of the round trip per format (quantize, then dequantize to float32)"
"$PY" - "$TMP" "${FORMATS[@]}" <<'PYEOF'
import os, sys
import numpy as np
tmp, fmts = sys.argv[1], sys.argv[2:]
# Expected rel RMS error on these weights, from each format's element precision (mantissa bits) and scaling.
EXPECTED = {"e4m3": (0.04, "3 mantissa bits; no scale, so small weights are subnormal"),
            "e5m2": (0.07, "2 mantissa bits"),
            "mxfp8_e4m3": (0.04, "3 mantissa bits, power-of-two scale per 32"),
            "mxfp6_e2m3": (0.05, "3 mantissa bits, range 7.5 per block of 32"),
            "mxfp4": (0.15, "1 mantissa bit: 0, 0.5, 1, 1.5, 2, 3, 4, 6 per block of 32"),
            "mxint8": (0.015, "int8 steps of 1/64 of the block's power of two"),
            "nvfp4": (0.12, "1 mantissa bit, finer E4M3 scale per 16")}
w = np.load(os.path.join(tmp, "w.npy"))
print(f"{'format':12s} {'bits/value':>10s} {'max abs err':>12s} {'max err/max|w|':>15s} {'rel RMS err':>12s} "
      f"{'expected':>9s}  why")
for f in fmts:
    y = np.load(os.path.join(tmp, f"w.{f}.npy"))
    size = os.path.getsize(os.path.join(tmp, f"w.{f}.safetensors"))
    err = np.abs(y.astype(np.float64) - w)
    rms = np.sqrt(np.mean(err ** 2)) / np.sqrt(np.mean(w.astype(np.float64) ** 2))
    bound, why = EXPECTED[f]
    flag = "" if rms <= bound else "  (HIGHER THAN EXPECTED)"
    print(f"{f:12s} {8 * size / w.size:10.2f} {err.max():12.3e} {err.max() / np.abs(w).max():15.3e} {rms:12.3e} "
          f"{'<= ' + format(bound, '.3f'):>9s}  {why}{flag}")
print("""
bits/value      size of the .safetensors file (codes + scales + header) x 8 / number of weights (fp32: 32)
max abs err     largest |w_back - w| over all weights
max err/max|w|  that, relative to the largest |w|
rel RMS err     RMS(w_back - w) / RMS(w): the figure to compare formats by; 'expected' is what the
                format's precision gives on these weights (normal, std 0.02, 32 outliers x20)""")
PYEOF
