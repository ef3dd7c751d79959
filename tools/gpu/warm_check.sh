#!/usr/bin/env bash
# tools/gpu/warm_check.sh — the second pass of one GPU session, ON the GPU machine, over tools/gpu/stage.sh's
# .gpu/: what tools/gpu/full_check.sh measured again with the GPU's clocks up (bench's busy warm-up,
# --warmup-ms; the base CLI, which has none, gets --warmup 300 and so does the current one beside it), the
# GEMV forms, decode attention, and `lowbit tune` (whose timings warm up the same way). ~5 minutes.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"  # drivers, scratch folder, el / left / step, begin_check
begin_check 290
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw --format=csv -lms 500 >"$o/clocks.csv" 2>&1 &

el "tests fixed after the first pass"
LOWBIT_VK_VALIDATION=1 timeout 60 .gpu/bin/test_w4a8_gpu --gtest_filter='*NanActivationScale*' >"$o/test_w4a8_nan.log" 2>&1; echo "  w4a8 nan exit $?"
LOWBIT_VK_VALIDATION=1 timeout 60 .gpu/bin/test_autotune --gtest_filter='*TunedConfigReaches*' >"$o/test_autotune_tuned.log" 2>&1; echo "  autotune exit $?"

G="1,4096,4096;8,4096,4096;16,4096,4096;64,4096,4096;256,4096,4096;1,14336,4096;16,14336,4096;1,4096,14336;16,4096,14336"
step 40 w4a16_vk_flush $L bench --op w4a16 --backend vulkan --shapes "$G" --flush-mib 256 --json "$o/w4a16_vk_flush.json"
GV="1,4096,4096;8,4096,4096;16,4096,4096;1,14336,4096;16,14336,4096;1,4096,14336;16,4096,14336"
for f in variant=1 variant=2 variant=3; do
  step 30 "gemv_${f/=/}" $L bench --op w4a16 --backend vulkan --shapes "$GV" --peak-shape 0 --flush-mib 256 --config "$f" --json "$o/gemv_${f/=/}.json"
done
step 30 w4a16_vk_new $L bench --op w4a16 --backend vulkan --shapes "$G" --warmup 300 --warmup-ms 0
step 30 w4a16_vk_base $B bench --op w4a16 --backend vulkan --shapes "$G" --warmup 300
A="--q-heads 32 --kv-heads 8 --context 1024,4096,8192"
step 70 attn_vk_flush $L bench --op attention --backend vulkan $A --batch 1,16 --flush-mib 256 --json "$o/attn_vk_flush.json"
step 25 attn_vk_gqa1_flush $L bench --op attention --backend vulkan --q-heads 8 --kv-heads 8 --context 4096,8192 --flush-mib 256
step 25 attn_vk_new $L bench --op attention --backend vulkan $A --warmup 300 --warmup-ms 0
step 25 attn_vk_base $B bench --op attention --backend vulkan $A --warmup 300
# decode's register trade-off: fewer query heads per workgroup (rows), fewer keys per step (keys)
for c in rows=1 rows=2 keys=2; do
  step 25 "decode_${c/=/}" $L bench --op attention --backend vulkan --context 8192 --batch 16 --kv-format int4 --flush-mib 256 --config "$c"
done
export LOWBIT_TUNING_DB=$o/tuning.json
step ${TUNE_W4A16_S:-60} tune_w4a16_vk $L tune --op w4a16 --backend vulkan --budget ${TUNE_W4A16_S:-60}
step ${TUNE_ATTN_S:-15} tune_attention_vk $L tune --op attention --backend vulkan --budget ${TUNE_ATTN_S:-15}
$L tune --show >"$o/tune_show.log" 2>&1
el "done"
kill %1 2>/dev/null
tar czf "$final/gpu.tgz" -C /tmp gpu-out
