#!/usr/bin/env bash
# test_mesa25.sh — runs every Vulkan test of an existing build again on the second Vulkan driver, Mesa 25
# lavapipe from bookworm-backports (unpacked by tools/mesa25.sh into BUILD/mesa25, selected through
# VK_DRIVER_FILES; the system keeps its Mesa 22). The GoogleTest binaries that hold Vulkan tests run with
# GTEST_FILTER='*ulkan*' (every test whose suite, name or backend parameter says Vulkan); the Vulkan
# backend is required, so a driver that fails to come up fails the run.
#   bash tools/test_mesa25.sh [BUILD]      (default $LOWBIT_BUILD_DIR or build)
# $LOWBIT_MESA25_TESTS (space-separated binary names) limits the pass to those binaries (CI runs a quick
# set: lavapipe 25 compiles every pipeline at its first dispatch, so the whole pass takes far longer).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-${LOWBIT_BUILD_DIR:-build}}"
bash tools/mesa25.sh "$BUILD/mesa25"
source "$BUILD/mesa25/env.sh"
version="$(cat "$BUILD/mesa25/version")"
"$BUILD/tools/lowbit" devices | grep -F "Mesa $version" ||
  { echo "test_mesa25.sh: lowbit devices does not list Mesa $version" >&2; exit 1; }
# lavapipe 25 JIT-compiles a pipeline's LLVM code on its queue thread at the first dispatch (Mesa 22 does it
# in vkCreateComputePipelines), so that compile counts against lowbit's wait for queued work: the large
# attention and GEMM shaders exceed the default 120 s device-lost limit on a loaded 2-core machine. Its
# caches stay apart from the system driver's (each driver would throw the other's pipeline cache away).
export LOWBIT_VK_TIMEOUT_MS="${LOWBIT_VK_TIMEOUT_MS:-900000}"
export LOWBIT_CACHE_DIR="$BUILD/mesa25/cache"
tests=()
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] && [ -f "$t" ] && "$t" --gtest_list_tests 2>/dev/null | grep -qi vulkan && tests+=("$(basename "$t")")
done
if [ -n "${LOWBIT_MESA25_TESTS:-}" ]; then
  read -r -a tests <<<"$LOWBIT_MESA25_TESTS"
fi
regex="^($(IFS='|'; echo "${tests[*]}"))\$"
echo "test_mesa25.sh: Vulkan tests of ${tests[*]} on Mesa $version lavapipe"
LOWBIT_REQUIRE="${LOWBIT_REQUIRE:-vulkan}" GTEST_FILTER='*ulkan*' ctest --test-dir "$BUILD" -R "$regex" --output-on-failure
