#!/usr/bin/env bash
# test.sh — installs the test-only Debian packages (GoogleTest, the Vulkan validation layers, SPIR-V tools,
# CLBlast for the benchmark peer, matplotlib for bench/plot.py; as root or through sudo, skipped when
# present), builds lowbit with its tests (cmake + ninja into build/) and runs every test through CTest.
# Exits non-zero when the build or any test fails. $LOWBIT_BUILD_DIR overrides the build folder. With $CI
# set it then runs tools/sanitize.sh address, tools/fuzz.sh and tools/test_mesa25.sh as well.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/apt_install.sh
BUILD="${LOWBIT_BUILD_DIR:-build}"

apt_install test.sh libgtest-dev vulkan-validationlayers spirv-tools libclblast-dev python3-matplotlib
cmake -S . -B "$BUILD" -G Ninja -DLOWBIT_BUILD_TESTS=ON
cmake --build "$BUILD"
ctest --test-dir "$BUILD" --output-on-failure
# Under CI also: the ASan+UBSan build and its test subset, a short run of every fuzz target, and the
# Vulkan tests of a quick set of binaries again on the second driver (Mesa 25 lavapipe; the whole pass:
# bash tools/test_mesa25.sh). Each is its own script (README, Hardening).
if [ -n "${CI:-}" ] && [ "$CI" != "false" ] && [ "$CI" != "0" ]; then
  bash tools/sanitize.sh address
  bash tools/fuzz.sh 20000
  LOWBIT_MESA25_TESTS="${LOWBIT_MESA25_TESTS:-test_vulkan_host test_vulkan_backend test_buffer_pool test_w4a8_gpu test_embed_vulkan test_resource_failures test_threads}" \
    bash tools/test_mesa25.sh "$BUILD"
fi
