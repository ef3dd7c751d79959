#!/usr/bin/env bash
# tools/gpu/probe.sh — a short diagnostic pass ON the GPU machine over tools/gpu/stage.sh's .gpu/ (no base CLI
# needed), for kernel work between two full checks: the driver's statistics of the GEMV and decode pipelines
# ($LOWBIT_VK_PIPELINE_STATS: registers, local memory), the copy roofline of the copy kernel against
# vkCmdCopyBuffer, every int4 GEMV form at M = 1..16 with each K-split count from DRAM (--flush-mib), and
# decode attention with each of its knobs (variant: prefetch off / shared-memory sums). ~4 minutes; results in $OUT/probe.tgz.
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
LOWBIT_LOG=info LOWBIT_VK_PIPELINE_STATS=1 timeout 60 $L bench --op attention --backend vulkan --context 8192 \
  --kv-format int4,int8,e4m3 --iters 3 >"$o/stats_attn.log" 2>&1
grep -h "pipeline " "$o"/stats_*.log | sed 's/.*vulkan: pipeline //' | sort -u | cut -c1-300

step 20 copy_kernel $L bench --op copy --backend vulkan
step 20 copy_transfer env LOWBIT_VK_COPY=transfer $L bench --op copy --backend vulkan

# decode at 8k context from DRAM, batch 1: the planner's launch, then each knob
A="--context 8192 --kv-format int4 --flush-mib 256"
step 20 dec_default $L bench --op attention --backend vulkan $A --json "$o/dec_default.json"
# (2026-11-28 ran variant=1/3 and keys=1/2/8; the register-lean ones first now)
for c in rows=1 rows=2 "keys=1 rows=1" "keys=1 rows=1 variant=1" "keys=2 rows=2 variant=1" split=4 split=8 split=64 \
  variant=1 variant=3 keys=1 keys=2; do
  n=$(echo "$c" | tr -d ' =')
  step 15 "dec_$n" $L bench --op attention --backend vulkan $A --config "$c" --json "$o/dec_$n.json"
done
step 40 dec_b16 $L bench --op attention --backend vulkan $A --batch 16 --json "$o/dec_b16.json"
step 40 dec_b16_rows1 $L bench --op attention --backend vulkan $A --batch 16 --config rows=1 --json "$o/dec_b16_rows1.json"
step 40 dec_b16_lean $L bench --op attention --backend vulkan $A --batch 16 --config "keys=1 rows=1 variant=1" --json "$o/dec_b16_lean.json"
step 30 dec_gqa1 $L bench --op attention --backend vulkan --q-heads 8 --kv-heads 8 $A --json "$o/dec_gqa1.json"

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
