#!/usr/bin/env bash
# tools/gpu/gemm_check.sh — the GEMM / attention check of one GPU run, ON the GPU machine, over what
# tools/gpu/stage.sh staged: the GPU suites (validation on), the cooperative-matrix variants without
# validation (Debian's layer predates VK_KHR_cooperative_matrix), then `lowbit bench` of the current and
# the base CLI side by side, the matrix variants one by one, the serial/pipelined pair, and the int4 GEMV
# forms one by one (gemv_forms.sh). One archive
# comes back: $OUT/gpu.tgz. Sized for ~5 minutes.
set -uo pipefail
final=${OUT:-/tmp}
export OUT=/tmp/gpu-out
NO_TAR=1 TESTS="test_gemm_plan test_coopmat_shapes test_gemm_backends test_buffer_pool test_vulkan_host test_attention_gpu" \
  TEST_TIMEOUT=50 BENCH="w4a16:1,4096,4096;16,4096,4096;64,4096,4096;256,4096,4096;1,14336,4096;1,4096,14336" \
  BENCH_TIMEOUT=60 bash .gpu/run.sh_inner 2>&1 | tee /tmp/gpu-run.log
o=/tmp/gpu-out
timeout 60 .gpu/bin/test_gemm_backends --gtest_filter='GemmVulkanCoopMatrix*' >"$o/coopmat_variants.log" 2>&1
echo "coopmat variants exit $? :: $(grep -E '^\[  (PASSED|FAILED)' "$o/coopmat_variants.log" | tr '\n' ' ')"
m="64,4096,4096;256,4096,4096"
for v in "KHR:" "NV:LOWBIT_VK_NO_COOPMAT_KHR=1" "TILED:LOWBIT_VK_NO_COOPMAT=1"; do
  name=${v%%:*} envs=${v#*:}
  env $envs LOWBIT_LOG=info timeout 60 .gpu/bin/lowbit bench --op w4a16 --shapes "$m" --backend vulkan --pipeline both \
    --json "$o/bench_matrix_$name.json" >"$o/bench_matrix_$name.log" 2>&1
  echo "bench matrix $name exit $?"; grep -E '^ *(w4a16|f16)' "$o/bench_matrix_$name.log"
done
bash .gpu/gemv_forms.sh "$o"  # the int4 GEMV forms forced one by one at M = 1, 8, 16 (two rounds)
timeout 60 .gpu/bin/lowbit bench --op attention --backend vulkan --json "$o/bench_attention_vulkan.json" >"$o/bench_attention_vulkan.log" 2>&1
echo "bench attention exit $?"; grep -E '^ *(attention|decode|prefill)' "$o/bench_attention_vulkan.log" | head -20
cp /tmp/gpu-run.log "$o/"
tar czf "$final/gpu.tgz" -C /tmp gpu-out
