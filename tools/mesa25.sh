#!/usr/bin/env bash
# mesa25.sh — fetches Mesa 25 lavapipe from bookworm-backports and unpacks it into the build tree, so the
# Vulkan tests can also run on a second driver generation without changing the system: a private apt
# configuration (own sources list, lists, cache and state under DIR) downloads the .debs that
# mesa-vulkan-drivers needs beyond what the system has, `dpkg-deb -x` unpacks them into DIR/root, and
# DIR/env.sh sets VK_DRIVER_FILES (an lvp_icd json whose library_path points at the unpacked .so) and
# LD_LIBRARY_PATH (its libraries). Idempotent: a finished DIR is reused.
#   bash tools/mesa25.sh [DIR]     (default build/mesa25), then:  source DIR/env.sh; lowbit devices
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="$(realpath -m "${1:-${LOWBIT_BUILD_DIR:-build}/mesa25}")"
SUITE=bookworm-backports
if [ -f "$DIR/env.sh" ]; then
  echo "mesa25.sh: $DIR already set up ($(cat "$DIR/version"))"
  exit 0
fi
mkdir -p "$DIR/apt/lists/partial" "$DIR/apt/cache/archives/partial" "$DIR/debs" "$DIR/root"
cat > "$DIR/apt/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
SRC
# Private apt: its own sources, lists and cache; the system's dpkg status is read (never written) so
# that only what the system lacks or has too old is fetched.
APT=(-o "Dir::Etc::SourceList=$DIR/apt/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
     -o "Dir::State::Lists=$DIR/apt/lists" -o "Dir::Cache=$DIR/apt/cache" -o "Dir::Cache::pkgcache="
     -o "Dir::Cache::srcpkgcache=" -o "Debug::NoLocking=1" -o "APT::Get::List-Cleanup=0")
apt-get "${APT[@]}" update -qq
# What installing mesa-vulkan-drivers from backports would bring in or upgrade (a simulation: nothing
# is installed), minus the parts a headless CPU driver never loads.
mapfile -t pkgs < <(apt-get "${APT[@]}" -s -qq install --no-install-recommends -t "$SUITE" mesa-vulkan-drivers |
                    awk '/^Inst /{print $2}')
[ "${#pkgs[@]}" -gt 0 ] || { echo "mesa25.sh: apt found nothing to fetch for mesa-vulkan-drivers" >&2; exit 1; }
(cd "$DIR/debs" && apt-get -o APT::Sandbox::User=root "${APT[@]}" download -t "$SUITE" "${pkgs[@]}")
for deb in "$DIR"/debs/*.deb; do dpkg-deb -x "$deb" "$DIR/root"; done
LIB="$DIR/root/usr/lib/x86_64-linux-gnu"
[ -f "$LIB/libvulkan_lvp.so" ] || { echo "mesa25.sh: no libvulkan_lvp.so in the unpacked packages" >&2; exit 1; }
# The ICD json with library_path rewritten to the unpacked driver (absolute, so the loader takes it as is).
sed "s|\"library_path\": *\"[^\"]*\"|\"library_path\": \"$LIB/libvulkan_lvp.so\"|" \
    "$(ls "$DIR"/root/usr/share/vulkan/icd.d/lvp_icd*.json | head -1)" > "$DIR/lvp_icd.json"
dpkg-deb -f "$DIR"/debs/mesa-vulkan-drivers_*.deb Version > "$DIR/version"
cat > "$DIR/env.sh" <<ENV
# Selects Mesa $(cat "$DIR/version") lavapipe unpacked by tools/mesa25.sh (source this file).
export VK_DRIVER_FILES="$DIR/lvp_icd.json"
export VK_ICD_FILENAMES="$DIR/lvp_icd.json"
export LD_LIBRARY_PATH="$LIB\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
echo "mesa25.sh: Mesa $(cat "$DIR/version") lavapipe in $DIR (${#pkgs[@]} packages: ${pkgs[*]})"
