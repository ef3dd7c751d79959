#!/usr/bin/env bash
# tools/gpu/full_check.sh — ON the GPU machine, over what tools/gpu/stage.sh staged (.gpu/): one device call
# that answers issues 10 (W4A16 GEMM), 11 (attention) and 12 (autotuner) at once, sized for ~7 minutes:
#   1. drivers (run.sh's setup), `lowbit devices`, and the DRAM roofline measured by PyTorch (a device copy
#      and a read-only reduction of 1 GiB), since lowbit's own copy row is vkCmdCopyBuffer;
#   2. the GPU suites in parallel (validation layer on; the KHR cooperative-matrix suites without it:
#      Debian's layer predates VK_KHR_cooperative_matrix);
#   3. W4A16 GEMM: current vs base CLI (same run, no flush), then the current one with --flush-mib (DRAM,
#      not L2), the int4 GEMV forms one by one, the matrix variants at M = 64 / 256 (KHR, NV, tiled;
#      serial and pipelined);
#   4. attention: decode at 1k/4k/8k (batch 1, 16; Hq 32 / Hkv 8), Hq = Hkv = 8, 32k, current vs base, and
#      the current one flushed; prefill 512 (KHR matrix vs scalar); kv_append;
#   5. OpenCL (NVIDIA's driver) GEMM and decode;
#   6. `lowbit tune` of w4a16 and attention with a budget, and the database it wrote.
# Everything lands in $OUT/gpu.tgz; the tables also go to stdout. DEADLINE (seconds, default 450) skips the
# steps that would not finish in time.
set -uo pipefail
source "$(dirname "$0")/gpu_env.sh"  # drivers, scratch folder, el / left / step, begin_check
begin_check 450
head -12 "$o/devices.txt"

el "roofline (PyTorch)"
timeout 40 python3 - >"$o/torch_bw.txt" 2>&1 <<'EOF'
import torch
x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda"); y = torch.empty_like(x)
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
for name, fn, nbytes in [("copy 1 GiB (read+write)", lambda: y.copy_(x), 2 << 30),
                         ("read 1 GiB (sum of int32 view)", lambda: x.view(torch.int32).sum(), 1 << 30)]:
    for _ in range(3): fn()
    ts = []
    for _ in range(10):
        s.record(); fn(); e.record(); torch.cuda.synchronize(); ts.append(s.elapsed_time(e))
    ts.sort(); print(f"torch {name}: {nbytes / ts[5] / 1e6:.0f} GB/s (median {ts[5]:.3f} ms)")
EOF
cat "$o/torch_bw.txt"

el "GPU suites in parallel"
SUITES="test_gemm_backends test_attention_gpu test_attention test_w4a8_gpu test_buffer_pool test_vulkan_host test_autotune
  test_tune_families test_convert_backends test_vulkan_backend test_opencl_backend test_batch_invariance test_act_quant
  test_embed_vulkan test_embed_opencl test_threads"
for s in $SUITES; do
  [[ -x .gpu/bin/$s ]] || continue
  case $s in test_gemm_backends | test_attention_gpu | test_attention) shards=4 ;; *) shards=1 ;; esac
  (suite "$s" $shards) &
done
(VALIDATION=0 suite test_attention_coopmat 1) &
(VALIDATION=0 LOG_AS=coopmat_variants suite test_gemm_backends 1 --gtest_filter='GemmVulkanCoopMatrix*') &
wait
grep -h -E '^\[  FAILED  \] [A-Za-z]' "$o"/test_*.log "$o"/coopmat_variants.*.log 2>/dev/null | sort -u | head -30

G="1,4096,4096;8,4096,4096;16,4096,4096;64,4096,4096;256,4096,4096;1,14336,4096;16,14336,4096;1,4096,14336;16,4096,14336"
step 60 w4a16_vk_new $L bench --op w4a16 --backend vulkan --shapes "$G" --json "$o/w4a16_vk_new.json"
step 60 w4a16_vk_base $B bench --op w4a16 --backend vulkan --shapes "$G"
step 60 w4a16_vk_flush $L bench --op w4a16 --backend vulkan --shapes "$G" --flush-mib 256 --json "$o/w4a16_vk_flush.json"
GV="1,4096,4096;8,4096,4096;16,4096,4096;1,14336,4096;16,14336,4096;1,4096,14336;16,4096,14336"
for f in variant=1 variant=2 variant=3; do
  step 40 "gemv_${f/=/}" $L bench --op w4a16 --backend vulkan --shapes "$GV" --peak-shape 0 --flush-mib 256 --config "$f"
done
for v in "KHR:" "NV:LOWBIT_VK_NO_COOPMAT_KHR=1" "TILED:LOWBIT_VK_NO_COOPMAT=1"; do
  step 40 "matrix_${v%%:*}" env ${v#*:} $L bench --op w4a16 --backend vulkan --shapes "64,4096,4096;256,4096,4096;128,14336,4096" --pipeline both --peak-shape 0
done

A="--q-heads 32 --kv-heads 8 --context 1024,4096,8192"
step 70 attn_vk_flush $L bench --op attention --backend vulkan $A --batch 1,16 --flush-mib 256 --json "$o/attn_vk_flush.json"
step 30 attn_vk_new $L bench --op attention --backend vulkan $A --json "$o/attn_vk_new.json"
step 30 attn_vk_base $B bench --op attention --backend vulkan $A
step 30 attn_vk_noshuffle env LOWBIT_VK_NO_SHUFFLE=1 $L bench --op attention --backend vulkan --context 1024,8192 --kv-format int4,e4m3
step 40 attn_vk_gqa1_flush $L bench --op attention --backend vulkan --q-heads 8 --kv-heads 8 --context 4096,8192 --flush-mib 256
step 40 attn_vk_gqa1_base $B bench --op attention --backend vulkan --q-heads 8 --kv-heads 8 --context 4096,8192
step 40 attn_vk_32k $L bench --op attention --backend vulkan --context 32768 --flush-mib 256 --kv-format int4,int8
P="--q-len 512 --context 512 --batch 1 --kv-format int4,int8"
step 40 prefill_vk_new $L bench --op attention --backend vulkan $P
step 40 prefill_vk_scalar env LOWBIT_VK_NO_COOPMAT_KHR=1 $L bench --op attention --backend vulkan $P
step 40 prefill_vk_base $B bench --op attention --backend vulkan $P
step 30 kv_append_vk $L bench --op kv_append --backend vulkan

step 50 w4a16_cl_flush $L bench --op w4a16 --backend opencl --shapes "1,4096,4096;16,4096,4096;64,4096,4096;256,4096,4096;1,4096,14336" --flush-mib 256
step 50 attn_cl_flush $L bench --op attention --backend opencl --context 1024,8192 --flush-mib 256 --kv-format int4,int8

export LOWBIT_TUNING_DB=$o/tuning.json
step ${TUNE_W4A16_S:-75} tune_w4a16_vk $L tune --op w4a16 --backend vulkan --budget ${TUNE_W4A16_S:-75}
step ${TUNE_ATTN_S:-30} tune_attention_vk $L tune --op attention --backend vulkan --budget ${TUNE_ATTN_S:-30}
$L tune --show >"$o/tune_show.log" 2>&1
el "done"
tar czf "$final/gpu.tgz" -C /tmp gpu-out
