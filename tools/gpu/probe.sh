#!/usr/bin/env bash
# tools/gpu/probe.sh — a short diagnostic pass ON the GPU machine over tools/gpu/stage.sh's .gpu/ (no base CLI
# needed), for kernel work between two full checks: the driver's statistics of the decode pipelines
# ($LOWBIT_VK_PIPELINE_STATS: registers, local memory), the copy roofline of the copy kernel, decode attention
# from DRAM at 8k (every KV format, the base CLI's beside it where stage.sh built one with --base), at 512
# keys (the same steps per lane group as 8k on fewer workgroups: latency chain or throughput), batch 16,
# GQA 1, each decode knob (head sets first), 32k; the decode tests with the validation layer; then the int4 GEMV default (and
# the base CLI's) and the staged / lane-reduced forms at 16-64 K slices; the cooperative-matrix GEMM's tests and
# M = 64 / 256 on its KHR and NV builds. ~5 minutes (DEADLINE, default 300);
# results in $OUT/probe.tgz.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"  # drivers, scratch folder, el / left / step, begin_check
begin_check 300
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw --format=csv -lms 500 >"$o/clocks.csv" 2>&1 &

el "pipeline statistics"
# decode: the planner's launch (4 head sets: one head per lane group), one head set with 4 keys (the launch
# before), the 16-element chunk, 8 lanes per row
for c in default "spread=1 keys=4" elems=16 lanes=8; do
  cfg=()
  [[ $c != default ]] && cfg=(--config "$c")
  LOWBIT_LOG=info LOWBIT_VK_PIPELINE_STATS=1 timeout 60 $L bench --op attention --backend vulkan --context 8192 \
    --kv-format int4,int8,e4m3 --iters 3 "${cfg[@]}" >"$o/stats_attn_$(echo "$c" | tr -d ' =').log" 2>&1
done
grep -h "pipeline " "$o"/stats_*.log | sed 's/.*vulkan: pipeline //' | sort -u | cut -c1-300

step 20 copy_kernel $L bench --op copy --backend vulkan

# decode from DRAM, batch 1, every format (each paired with fp16 KV): the base CLI, the planner's launch,
# a short context (the launch's fixed cost), batch 16, GQA 1, then each knob
A="--context 8192 --kv-format int4,int8,e4m3 --flush-mib 256 --iters 30"
[[ -x $B ]] && step 30 dec_base $B bench --op attention --backend vulkan $A --json "$o/dec_base.json"
step 30 dec_default $L bench --op attention --backend vulkan $A --json "$o/dec_default.json"
step 20 dec_ctx512 $L bench --op attention --backend vulkan --context 512 --kv-format int4 --flush-mib 256 --iters 30 --json "$o/dec_ctx512.json"
[[ -x $B ]] && step 40 dec_base_b16 $B bench --op attention --backend vulkan $A --batch 16 --json "$o/dec_base_b16.json"
step 40 dec_b16 $L bench --op attention --backend vulkan $A --batch 16 --json "$o/dec_b16.json"
step 40 dec_b16_spread1 $L bench --op attention --backend vulkan $A --batch 16 --config spread=1 --json "$o/dec_b16_spread1.json"
step 30 dec_gqa1 $L bench --op attention --backend vulkan --q-heads 8 --kv-heads 8 $A --json "$o/dec_gqa1.json"
for c in spread=1 spread=2 "spread=1 keys=4" keys=8 split=8 "variant=1" lanes=8 lanes=4 rows=2 keys=2 keys=1 \
  elems=16 split=64 "lanes=8 rows=2"; do
  n=$(echo "$c" | tr -d ' =')
  step 20 "dec_$n" $L bench --op attention --backend vulkan $A --config "$c" --json "$o/dec_$n.json"
done
step 40 dec_32k $L bench --op attention --backend vulkan --context 32768 --kv-format int4,int8 --flush-mib 256 --iters 20 --json "$o/dec_32k.json"

# the decode tests on the GPU (validation layer on)
TEST_TIMEOUT=60 LOG_AS=test_decode suite test_attention_gpu 4 --gtest_filter='*Decode*:*Split*:*Merge*'

# int4 GEMV from DRAM: the default (shipped H100 rows), then the staged form with 32 / 64 K slices
GS="1,4096,4096;4,4096,4096;16,4096,4096;1,14336,4096;16,14336,4096;1,4096,14336"
step 20 gemv_default $L bench --op w4a16 --backend vulkan --shapes "$GS" --peak-shape 0 --flush-mib 256 --iters 20 --json "$o/gemv_default.json"
[[ -x $B ]] && step 20 gemv_base $B bench --op w4a16 --backend vulkan --shapes "$GS" --peak-shape 0 --flush-mib 256 --iters 20 --json "$o/gemv_base.json"
for c in "variant=1 split=32" "variant=1 split=64" "variant=1 split=32 u=8" "variant=3 split=16"; do
  n=$(echo "$c" | tr -d ' =')
  step 12 "gemv_$n" $L bench --op w4a16 --backend vulkan --shapes "$GS" --peak-shape 0 --flush-mib 256 --iters 20 --config "$c" --json "$o/gemv_$n.json"
done

# the cooperative-matrix GEMM's two builds of gemm_coopmat.comp against the CPU, each depth bit-identical (the NV
# build's first run on a GPU), then M = 64 / 256 on each build
(($(left) >= 60)) && VALIDATION=0 TEST_TIMEOUT=60 LOG_AS=test_coopmat suite test_gemm_backends 1 --gtest_filter='GemmVulkanCoopMatrix*'
CS="64,4096,4096;256,4096,4096"
step 15 coopmat_khr $L bench --op w4a16 --backend vulkan --shapes "$CS" --peak-shape 0 --iters 20 --json "$o/coopmat_khr.json"
step 15 coopmat_nv env LOWBIT_VK_NO_COOPMAT_KHR=1 $L bench --op w4a16 --backend vulkan --shapes "$CS" --peak-shape 0 --iters 20 --json "$o/coopmat_nv.json"
el "done"
kill %1 2>/dev/null
tar czf "$final/probe.tgz" -C /tmp gpu-out
