#!/usr/bin/env bash
# sanitize.sh — builds lowbit with LOWBIT_SANITIZE=address (ASan + UBSan) or thread (TSan) into
# $LOWBIT_BUILD_DIR-asan / -tsan (default build-asan / build-tsan) and runs the README's subset of the
# suite there; only the targets that subset needs are built (ccache keeps rebuilds short). The ASan build
# uses clang with LOWBIT_FUZZ=ON where clang is installed, so that tools/fuzz.sh reuses the same objects.
#   bash tools/sanitize.sh address|thread
# The drivers (lavapipe, PoCL) are not instrumented: the options below and tests/sanitizers/*.supp
# handle their known reports; lowbit's own code is never suppressed.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-address}"
SUPP="$PWD/tests/sanitizers"
case "$MODE" in
  address)
    BUILD="${LOWBIT_BUILD_DIR:-build}-asan"
    TESTS=(test_io test_formats test_w4_pack test_checkpoint_input test_convert_backends)
    SCRIPTS=()
    export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1"
    # The Vulkan loader unloads drivers and layers with their instance; LSan would then report their
    # leftovers with unknown frames that lsan.supp cannot name. Preloaded, they stay mapped and named.
    preload=()
    for lib in /usr/lib/x86_64-linux-gnu/{libvulkan_lvp.so,libVkLayer_MESA_device_select.so,libVkLayer_khronos_validation.so,libpocl.so.2}; do
      [ -f "$lib" ] && preload+=("$lib")
    done
    PRELOAD="$(IFS=:; echo "${preload[*]}")"
    export LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    ;;
  thread)
    BUILD="${LOWBIT_BUILD_DIR:-build}-tsan"
    PRELOAD=""
    TESTS=(test_io test_formats test_w4_pack test_gemm_plan test_convert_backends test_threads)
    SCRIPTS=()
    export TSAN_OPTIONS="suppressions=$SUPP/tsan.supp:halt_on_error=1:second_deadlock_stack=1"
    ;;
  *) echo "sanitize.sh: mode must be address or thread, not '$MODE'" >&2; exit 2 ;;
esac
if [ "$MODE" = address ] && command -v clang++ >/dev/null; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DLOWBIT_FUZZ=ON -DLOWBIT_BUILD_TESTS=ON >/dev/null
else
  cmake -S . -B "$BUILD" -G Ninja -DLOWBIT_SANITIZE="$MODE" -DLOWBIT_BUILD_TESTS=ON >/dev/null
fi
targets=("${TESTS[@]}")
[ "${#SCRIPTS[@]}" -eq 0 ] || targets+=(lowbit_cli)
cmake --build "$BUILD" --target "${targets[@]}"
regex="^($(IFS='|'; echo "${TESTS[*]}${SCRIPTS[*]:+|${SCRIPTS[*]}}" | sed 's/\./\\./g'))\$"
LD_PRELOAD="$PRELOAD" ctest --test-dir "$BUILD" -R "$regex" --output-on-failure
