#!/usr/bin/env bash
# tools/gpu/stage.sh — prepares one run on a bare NVIDIA GPU machine (no network): ../shared/gpu/stage.sh
# (Release CLI + test binaries in .gpu/bin, the base CLI in .gpu/base, runtime .debs in .gpu/debs), plus the
# packages that script leaves out and a bare NVIDIA machine needs: libclblast1 (the CLI links the CLBlast peer)
# and glvnd (NVIDIA's Vulkan ICD, libGLX_nvidia, loads libGLdispatch), and this folder's run.sh.
# Usage, from the repo root: bash tools/gpu/stage.sh [--base REV]; then a device call with carry [".gpu"] and
# command `bash .gpu/run.sh` (or .gpu/full_check.sh, then .gpu/warm_check.sh: one call each; .gpu/probe.sh
# for a short diagnostic pass between kernel changes).
set -euo pipefail
bash ../shared/gpu/stage.sh "$@"
(cd .gpu/debs && apt-get download -q libclblast1 libglvnd0 libglx0 libgl1 libegl1 libopengl0 2>&1 |
  grep -v 'Download is performed unsandboxed' || true)
cp tools/gpu/run.sh .gpu/run.sh_inner && cp tools/gpu/run.sh .gpu/run.sh && cp tools/gpu/gemm_check.sh .gpu/gemm_check.sh
cp tools/gpu/gemv_forms.sh tools/gpu/full_check.sh tools/gpu/warm_check.sh tools/gpu/probe.sh tools/gpu/gpu_env.sh .gpu/
# the binaries travel xz-compressed (a device call carries 64 MiB at most); the scripts unpack them there
(cd .gpu && { strip bin/* base/* 2>/dev/null || true; } && tar cJf bin.tar.xz bin $([[ -d base ]] && echo base) && rm -rf bin base)
du -sh .gpu
