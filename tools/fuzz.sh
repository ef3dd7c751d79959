#!/usr/bin/env bash
# fuzz.sh — builds the libFuzzer targets of tests/fuzz with clang (LOWBIT_FUZZ=ON: ASan + UBSan + coverage)
# into $LOWBIT_BUILD_DIR-asan (default build-asan, shared with tools/sanitize.sh address) and runs each one
# RUNS times (default 20000) from its seed corpus through CTest (fuzz_short_*); new inputs land in
# build-asan/fuzz-corpus/, never in the repo.
#   bash tools/fuzz.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-20000}"
BUILD="${LOWBIT_BUILD_DIR:-build}-asan"
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DLOWBIT_FUZZ=ON -DLOWBIT_FUZZ_SHORT_RUNS="$RUNS" >/dev/null
mapfile -t targets < <(ctest --test-dir "$BUILD" -N -R '^fuzz_short_' | sed -n 's/.*Test *#[0-9]*: fuzz_short_/fuzz_/p')
cmake --build "$BUILD" --target "${targets[@]}"
ctest --test-dir "$BUILD" -R '^fuzz_short_' --output-on-failure
