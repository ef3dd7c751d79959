# tools/gpu/gpu_env.sh — sourced ON the GPU machine (from the repo root) by run.sh, full_check.sh and
# warm_check.sh: unpacks what stage.sh staged in .gpu/ (the xz-compressed binaries, the runtime .debs),
# points Vulkan at NVIDIA's ICD and OpenCL at NVIDIA's driver (the machine's PoCL set aside, unless
# KEEP_POCL=1), makes the test binaries' scratch folder, and sets LOWBIT_CACHE_DIR. Also defines the
# helpers of a timed check: el (a line with the elapsed seconds), left (seconds to DEADLINE) and step.
[[ -f .gpu/bin.tar.xz && ! -d .gpu/bin ]] && tar xJf .gpu/bin.tar.xz -C .gpu  # 64 MiB travel per call
for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
mkdir -p /etc/OpenCL/vendors /etc/OpenCL/aside
if ldconfig -p | grep -q libnvidia-opencl.so.1; then
  echo libnvidia-opencl.so.1 >/etc/OpenCL/vendors/nvidia.icd
  [[ ${KEEP_POCL:-0} == 1 ]] || mv /etc/OpenCL/vendors/pocl.icd /etc/OpenCL/aside/ 2>/dev/null
fi
mkdir -p "$(cat .gpu/test_data_dir)"
export LOWBIT_CACHE_DIR=/tmp/lowbit-cache

T0=$(date +%s)
el() { echo "[t=$(($(date +%s) - T0))s] $*"; }
left() { echo $((${DEADLINE:-600} - ($(date +%s) - T0))); }
# step NEED_S NAME CMD...: runs CMD (output into $o/NAME.log, its table rows to stdout) when NEED_S seconds remain
step() {
  local need=$1 name=$2
  shift 2
  if (($(left) < need)); then el "skip $name (deadline)"; return; fi
  el "$name"
  timeout $((need + 30)) "$@" >"$o/$name.log" 2>&1
  echo "  exit $?"
  grep -E '^(roofline:|copy |w4a16 |f16 |attention |kv_append |tune |shape |[0-9]+,[0-9]|geomean|took)' "$o/$name.log" | cut -c1-230
}
