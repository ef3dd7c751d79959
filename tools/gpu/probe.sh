#!/usr/bin/env bash
# tools/gpu/probe.sh — a short diagnostic pass ON the GPU machine over tools/gpu/stage.sh's .gpu/ (no base CLI
# needed), for kernel work between two full checks: the driver's statistics of the GEMV and decode pipelines
# ($LOWBIT_VK_PIPELINE_STATS: registers, local memory), the copy roofline of the copy kernel against
# vkCmdCopyBuffer, decode attention at 8k / 32k context, batch 1 / 16, GQA 4 / 1, every KV format, the base CLI's
# beside it where stage.sh built one (--base), then each decode knob, then every int4 GEMV form at M = 1..16 with
# each K-split count from DRAM (--flush-mib). ~5 minutes; results in $OUT/probe.tgz.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"  # drivers, scratch folder, el / left / step, begin_check
begin_check 280
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw --format=csv -lms 500 >"$o/clocks.csv" 2>&1 &

el "pipeline statistics"
GV="1,4096,4096;4,4096,4096;16,4096,4096;1,14336,4096;1,4096,14336"
for f in variant=1 variant=2 variant=3; do
  LOWBIT_LOG=info LOWBIT_VK_PIPELINE_STATS=1 timeout 60 $L bench --op w4a16 --backend vulkan --shapes "$GV" --peak-shape 0 \
    --iters 3 --config "$f" >"$o/stats_gemv_${f/=/}.log" 2>&1
done
# decode: the planner's chunk (8 elements for the quantized formats on GPUs), the old 16-element one, no prefetch
for c in default elems=16 variant=1 "elems=16 rows=2"; do
  cfg=()
  [[ $c != default ]] && cfg=(--config "$c")
  LOWBIT_LOG=info LOWBIT_VK_PIPELINE_STATS=1 timeout 60 $L bench --op attention --backend vulkan --context 8192 \
    --kv-format int4,int8,e4m3 --iters 3 "${cfg[@]}" >"$o/stats_attn_$(echo "$c" | tr -d ' =').log" 2>&1
done
grep -h "pipeline " "$o"/stats_*.log | sed 's/.*vulkan: pipeline //' | sort -u | cut -c1-300

step 20 copy_kernel $L bench --op copy --backend vulkan

# decode at 8k context from DRAM, batch 1, every format (each paired with fp16 KV): the base CLI (before the
# register-budget chunk), the planner's launch, then each knob
A="--context 8192 --kv-format int4,int8,e4m3 --flush-mib 256"
[[ -x $B ]] && step 30 dec_base $B bench --op attention --backend vulkan $A --json "$o/dec_base.json"
step 30 dec_default $L bench --op attention --backend vulkan $A --json "$o/dec_default.json"
for c in elems=16 variant=1 rows=2 keys=2 "variant=1 keys=2" "rows=2 elems=16" split=8 split=64 variant=3 lanes=8 lanes=4; do
  n=$(echo "$c" | tr -d ' =')
  step 20 "dec_$n" $L bench --op attention --backend vulkan $A --config "$c" --json "$o/dec_$n.json"
done
[[ -x $B ]] && step 40 dec_base_b16 $B bench --op attention --backend vulkan $A --batch 16 --json "$o/dec_base_b16.json"
step 40 dec_b16 $L bench --op attention --backend vulkan $A --batch 16 --json "$o/dec_b16.json"
step 30 dec_gqa1 $L bench --op attention --backend vulkan --q-heads 8 --kv-heads 8 $A --json "$o/dec_gqa1.json"
step 40 dec_32k $L bench --op attention --backend vulkan --context 32768 --kv-format int4,int8 --flush-mib 256 --json "$o/dec_32k.json"

# every GEMV form x K split from DRAM; the default (the tuning lookup: shipped H100 rows) first
GS="1,4096,4096;4,4096,4096;16,4096,4096;1,14336,4096;16,14336,4096;1,4096,14336"
step 20 gemv_default $L bench --op w4a16 --backend vulkan --shapes "$GS" --peak-shape 0 --flush-mib 256 --json "$o/gemv_default.json"
for c in "variant=1 split=16" "variant=1 split=32" "variant=1 split=64" "variant=1 split=128" "variant=1 split=32 u=1" \
  "variant=1 split=32 u=8" "variant=1 split=64 u=8" "variant=1 cols=8 split=32" "variant=1 cols=1 split=32" \
  "variant=1 wg=256 split=32" "variant=2 split=4" "variant=2 split=16" "variant=2 split=64" "variant=3 split=4" \
  "variant=3 split=16" "variant=3 split=64"; do
  n=$(echo "$c" | tr -d ' =')
  step 12 "gemv_$n" $L bench --op w4a16 --backend vulkan --shapes "$GS" --peak-shape 0 --flush-mib 256 --config "$c" --json "$o/gemv_$n.json"
done
# the same launches again (2026-11-28: identical launches ran 0.037 or 0.096 ms in different processes)
for c in "variant=1 split=32" "variant=1 split=32 u=1"; do
  n=$(echo "$c" | tr -d ' =')
  step 12 "gemv_${n}_again" $L bench --op w4a16 --backend vulkan --shapes "$GS" --peak-shape 0 --flush-mib 256 --config "$c" --json "$o/gemv_${n}_again.json"
done
el "done"
kill %1 2>/dev/null
tar czf "$final/probe.tgz" -C /tmp gpu-out
