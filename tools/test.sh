#!/usr/bin/env bash
# test.sh — builds lowbit (cmake + ninja into build/) and runs every test through CTest. Exits
# non-zero when the build or any test fails. $LOWBIT_BUILD_DIR overrides the build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${LOWBIT_BUILD_DIR:-build}"

cmake -S . -B "$BUILD" -G Ninja
cmake --build "$BUILD"
ctest --test-dir "$BUILD" --output-on-failure
