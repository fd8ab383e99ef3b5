#!/usr/bin/env bash
# The whole GPU check in one command, for the GPU machine (CUDA, NCCL and the libraries, but no
# SimGrid and no package registry): configure with SimGrid off, build, run the GPU tests and the
# rest of the suite, and a simulation on the analytical engine. Logs and JSON go to OUT.
#   scripts/gpu_check.sh OUT_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0  # never NVLink multicast on shared machines
BUILD=${COMET_GPU_BUILD_DIR:-/tmp/comet-gpu-build}
jobs=$(nproc)

status=0
step() {  # step NAME COMMAND...: runs it with its log in OUT/NAME.log, records failure
  local name=$1
  shift
  if "$@" >"$OUT/$name.log" 2>&1; then echo "ok    $name"; else echo "FAIL  $name (see $name.log)"; status=1; fi
}
step gpus nvidia-smi
# No -Werror here: the GPU image has GCC 13, whose -Warray-bounds gives false positives on
# std::vector<int> growth in plan_builder.cpp (GCC 12, used by CI, builds warning-free).
# No -Werror here: the GPU image has GCC 13, whose -Warray-bounds gives false positives on
# std::vector<int> growth in plan_builder.cpp (GCC 12, used by CI, builds warning-free).
step configure cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOMET_WITH_SIMGRID=OFF -DCOMET_WERROR=OFF
step build cmake --build "$BUILD" -j "$jobs"
step gpu-tests ctest --test-dir "$BUILD" -L gpu --output-on-failure
step cpu-tests ctest --test-dir "$BUILD" -LE gpu -j "$jobs" --output-on-failure
step simulate "$BUILD/comet" simulate --engine analytical --json
cp "$OUT/simulate.log" "$OUT/simulate.json" 2>/dev/null
echo "--- gpu tests"
tail -n 15 "$OUT/gpu-tests.log"
exit $status
