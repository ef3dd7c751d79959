#!/usr/bin/env bash
# tools/gpu/run.sh — runs ON the GPU machine from the repo root over what tools/gpu/stage.sh staged in .gpu/:
# unpacks the runtime packages, points Vulkan at NVIDIA's ICD and OpenCL at NVIDIA's (the machine's PoCL is
# set aside when NVIDIA's OpenCL is there, so "opencl" means the GPU), runs the GPU test suites (validation
# layer on; TESTS = space-separated binaries, default all) and the benchmarks in BENCH with the current and the
# base CLI in the same run. Everything lands in one archive, $OUT/gpu.tgz (a run returns at most 8 files).
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"  # drivers, scratch folder, begin_check
begin_check 600  # results folder, nvidia-smi, devices (no step here heeds the deadline)
out=$o
# without NVIDIA's OpenCL the machine's PoCL runs the OpenCL tests; the benchmarks then skip it (slow, a CPU)
[[ $LOWBIT_GPU_OPENCL == 1 ]] || BACKENDS=${BACKENDS:-vulkan}
{ ls -l /etc/OpenCL/vendors "$VK_DRIVER_FILES"; cat "$VK_DRIVER_FILES"; ldconfig -p | grep -E 'nvidia|GLdispatch|vulkan|OpenCL'; } >"$out/icds.txt" 2>&1
cat "$out/devices.txt"
for name in ${TESTS:-$(cd .gpu/bin && ls test_*)}; do
  LOWBIT_VK_VALIDATION=1 timeout ${TEST_TIMEOUT:-120} ".gpu/bin/$name" --gtest_filter="${GTEST_FILTER:-*}" >"$out/$name.log" 2>&1
  echo "$name exit $? :: $(grep -E '^\[  (PASSED|FAILED)  \]|SKIPPED \] [0-9]' "$out/$name.log" | tr '\n' ' ')"
done
BENCH=${BENCH:-"w4a16:1,4096,4096;16,4096,4096;64,4096,4096;256,4096,4096;1,14336,4096;1,4096,14336"}
for spec in $BENCH; do
  op=${spec%%:*} shapes=${spec#*:}
  for b in ${BACKENDS:-vulkan opencl}; do
    for cli in .gpu/bin/lowbit .gpu/base/lowbit; do
      [[ -x $cli ]] || continue
      tag=$([[ $cli == .gpu/base/* ]] && echo _base)
      timeout ${BENCH_TIMEOUT:-120} "$cli" bench --op "$op" ${shapes:+--shapes "$shapes"} --backend "$b" ${BENCH_ARGS:-} \
        --json "$out/bench_${op}_$b$tag.json" >"$out/bench_${op}_$b$tag.log" 2>&1
      echo "bench $op $b$tag exit $?"; grep -E '^(w4a16|f16|copy|attention|decode|prefill)' "$out/bench_${op}_$b$tag.log" | head -20
    done
  done
done
[[ ${NO_TAR:-0} == 1 ]] || tar czf "$final/gpu.tgz" -C /tmp gpu-out
