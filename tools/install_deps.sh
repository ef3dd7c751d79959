#!/usr/bin/env bash
# install_deps.sh — installs every Debian 12 package lowbit needs on a fresh machine: compilers and
# build tools, Vulkan (headers, glslang, SPIR-V tools, Mesa lavapipe, validation layers), OpenCL
# (headers, ICD loader, PoCL), the C++ libraries (spdlog, nlohmann-json, CLI11, GoogleTest) and
# python3 + numpy for the CLI tests and the demo; CLBlast (bench peer) and matplotlib (bench/plot.py). Run as root, or as a user who can sudo.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build ccache
  libvulkan-dev glslang-tools spirv-tools mesa-vulkan-drivers vulkan-tools vulkan-validationlayers
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  libspdlog-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  python3 python3-numpy python3-matplotlib libclblast-dev
)

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install_deps.sh: run as root or install sudo" >&2
  exit 1
fi

"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${PACKAGES[@]}"
echo "install_deps.sh: all ${#PACKAGES[@]} packages installed"
