#!/usr/bin/env bash
# tools/gpu/gemv_forms.sh — ON the GPU machine (called by gemm_check.sh, after run.sh set up the drivers): the
# int4 GEMV forms side by side in one run, each forced through `lowbit bench --config`: staged (variant=1),
# K-partitioned (variant=2), lane-reduced (variant=3) and the planner's default, at M = 1, 8, 16 on the
# 4096x4096, 14336x4096 and 4096x14336 layers, two rounds in alternating order; each table row carries the
# fp16 GEMV of the same shape ("vs f16") and the % of the copy roofline ("%bw"). Usage: gemv_forms.sh OUTDIR
# (GEMV_SHAPES overrides the shapes, e.g. for a dry run on lavapipe).
set -uo pipefail
o=${1:?usage: gemv_forms.sh OUTDIR}
shapes=${GEMV_SHAPES:-"1,4096,4096;8,4096,4096;16,4096,4096;1,14336,4096;8,14336,4096;16,14336,4096;1,4096,14336;8,4096,14336;16,4096,14336"}
for round in 1 2; do
  forms="default variant=1 variant=2 variant=3"
  [[ $round == 2 ]] && forms="variant=3 variant=2 variant=1 default"
  for f in $forms; do
    tag=${f/=/}
    timeout 90 .gpu/bin/lowbit bench --op w4a16 --backend vulkan --shapes "$shapes" --peak-shape 0 --config "$f" \
      --json "$o/gemv_${tag}_r$round.json" >"$o/gemv_${tag}_r$round.log" 2>&1
    echo "gemv form $f round $round exit $?"
    grep -E '^(roofline:|w4a16 |f16 )' "$o/gemv_${tag}_r$round.log"
  done
done
