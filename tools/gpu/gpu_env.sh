# tools/gpu/gpu_env.sh — sourced ON the GPU machine (from the repo root) by run.sh, full_check.sh,
# warm_check.sh and probe.sh: unpacks what stage.sh staged in .gpu/ (the xz-compressed binaries, the runtime .debs),
# points Vulkan at NVIDIA's ICD and OpenCL at NVIDIA's driver (the machine's PoCL set aside, unless
# KEEP_POCL=1), makes the test binaries' scratch folder, and sets LOWBIT_CACHE_DIR. Also defines the
# helpers of a timed check: el (a line with the elapsed seconds), left (seconds to DEADLINE) and step.
[[ -f .gpu/bin.tar.xz && ! -d .gpu/bin ]] && tar xJf .gpu/bin.tar.xz -C .gpu  # 64 MiB travel per call
for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
mkdir -p /etc/OpenCL/vendors /etc/OpenCL/aside
# NVIDIA's OpenCL: an ICD the image ships, or one for the library where the loader can find it. The first
# GPU session's image listed NVIDIA's OpenCL device beside PoCL's without libnvidia-opencl in ldconfig's
# cache, so PoCL (device 0) ran the OpenCL benchmarks: every ICD naming PoCL goes aside when NVIDIA's is there.
nv_icd=$(grep -il nvidia /etc/OpenCL/vendors/*.icd 2>/dev/null | head -1)
if [[ -z $nv_icd ]] && { ldconfig -p | grep -q libnvidia-opencl.so.1 || ls /usr/local/nvidia/lib*/libnvidia-opencl.so.1 >/dev/null 2>&1; }; then
  nv_lib=$(ls /usr/local/nvidia/lib*/libnvidia-opencl.so.1 2>/dev/null | head -1)
  echo "${nv_lib:-libnvidia-opencl.so.1}" >/etc/OpenCL/vendors/nvidia.icd
  nv_icd=/etc/OpenCL/vendors/nvidia.icd
fi
if [[ -n $nv_icd && ${KEEP_POCL:-0} != 1 ]]; then
  for f in $(grep -il pocl /etc/OpenCL/vendors/*.icd 2>/dev/null); do mv "$f" /etc/OpenCL/aside/; done
fi
export LOWBIT_GPU_OPENCL=$([[ -n $nv_icd ]] && echo 1 || echo 0)  # 1: "opencl" means the GPU
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
# suite NAME SHARDS [ARGS...]: test binary .gpu/bin/NAME in SHARDS processes at once (gtest sharding), each with
# the validation layer (VALIDATION=0: without) and TEST_TIMEOUT (default 100 s); logs $o/TAG.<shard>.log (TAG:
# $LOG_AS, else NAME); one line: each shard's exit status and the PASSED / FAILED lines. The long suites (their CPU references) ran out
# of 100 s on the H100 machine as one process beside 15 others; sharded, they use more of its 16 cores.
suite() {
  local name=$1 shards=$2 tag=${LOG_AS:-$1} i status="" pids=()
  shift 2
  for ((i = 0; i < shards; ++i)); do
    (GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$i LOWBIT_VK_VALIDATION=${VALIDATION:-1} \
       timeout "${TEST_TIMEOUT:-100}" ".gpu/bin/$name" "$@" >"$o/$tag.$i.log" 2>&1
     echo $? >"$o/$tag.$i.rc") &
    pids+=($!)
  done
  wait "${pids[@]}"  # its own shards only (a caller's background jobs, e.g. a clock log, keep running)
  for ((i = 0; i < shards; ++i)); do status+=" $(cat "$o/$tag.$i.rc")"; done
  echo "$tag exit$status :: $(cat "$o/$tag".*.log | grep -E '^\[  (PASSED|FAILED)  \]|SKIPPED \] [0-9]|checked' | tr '\n' ' ')"
}
# begin_check DEFAULT_DEADLINE: the common start of a check script: results folder $o (packed into $final at
# the end), DEADLINE (the caller's, else the default), nvidia-smi and `lowbit devices` into $o, L / B the
# current and base CLIs.
begin_check() {
  final=${OUT:-/tmp}
  o=/tmp/gpu-out
  rm -rf "$o" && mkdir -p "$o"
  DEADLINE=${DEADLINE:-$1}
  nvidia-smi >"$o/nvidia-smi.txt" 2>&1
  L=.gpu/bin/lowbit B=.gpu/base/lowbit
  $L devices >"$o/devices.txt" 2>&1
}
