#!/usr/bin/env bash
# The whole GPU check in one command, for the GPU machine (CUDA, NCCL and the libraries, but no
# SimGrid and no package registry): configure with SimGrid off, build, run the GPU tests and the
# rest of the suite, the kernel benchmarks and a fixed set of validation runs. Logs and JSON go
# to OUT (summary.txt, logs.tgz with every log and measured JSON).
#   scripts/gpu_check.sh OUT_DIR [quick|full|overlap]
#     quick    tests and the tiny validation only
#     full     (default) + validations of DeepSeek-V3 and Mixtral shapes over NVLink and shared
#              memory, and comet_gpu_bench
#     overlap  tests, comet_gpu_bench's all-to-all, and the shared-memory validations with NCCL
#              limited to 4, 8 and 16 CTAs (how much SM partitioning buys the pipelines)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/gpu_check.sh OUT_DIR [quick]}
MODE=${2:-full}
mkdir -p "$OUT/logs"
export NCCL_NVLS_ENABLE=0  # never NVLink multicast on shared machines
BUILD=${COMET_GPU_BUILD_DIR:-/tmp/comet-gpu-build}
jobs=$(nproc)
LOGS="$OUT/logs"

step() {  # step NAME COMMAND...: runs it with its log in LOGS/NAME.log, records failure
  local name=$1
  shift
  local start=$SECONDS
  if "$@" >"$LOGS/$name.log" 2>&1; then echo "ok    $name ($((SECONDS - start)) s)"; else echo "FAIL  $name ($((SECONDS - start)) s, see $name.log)"; fi
}
# validate_step MODEL nvlink|shm [OPTIONS...]: comet validate on scenarios/validate-MODEL-2gpu.yaml.
# shm = host shared memory instead of NVLink (NCCL_P2P_DISABLE=1): a slower transport, so
# communication matters. The log and JSON are named after the arguments.
validate_step() {
  local model=$1 transport=$2
  shift 2
  local name="validate-$model-$transport$(printf -- '%s' "$@" | tr -d ' -')"
  local env=()
  [[ $transport == shm ]] && env=(NCCL_P2P_DISABLE=1)
  step "$name" timeout -k 5 150 env "${env[@]}" "$BUILD/comet" validate "scenarios/validate-$model-2gpu.yaml" \
    --measure-only -o "$LOGS/$name.json" "$@"
}
{
  date -u
  step gpus nvidia-smi
  # No -Werror here: the GPU image has GCC 13, whose -Warray-bounds gives false positives on
  # std::vector<int> growth in plan_builder.cpp (GCC 12, used by CI, builds warning-free).
  step configure cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOMET_WITH_SIMGRID=OFF -DCOMET_WERROR=OFF
  step build cmake --build "$BUILD" -j "$jobs"
  step gpu-tests timeout -k 5 200 ctest --test-dir "$BUILD" -L gpu --output-on-failure
  step validate-tiny "$BUILD/comet" validate tests/data/validate-tiny.yaml --measure-only -o "$LOGS/validate-tiny.json"
  if [[ $MODE == full ]]; then
    for model in deepseek mixtral; do
      validate_step "$model" nvlink
      validate_step "$model" shm
    done
    step gpu-bench timeout -k 5 150 "$BUILD/comet_gpu_bench"
  fi
  if [[ $MODE == overlap ]]; then
    step gpu-bench timeout -k 5 120 "$BUILD/comet_gpu_bench" --sections a2a
    for ctas in 4 8 16; do
      for model in deepseek mixtral; do validate_step "$model" shm --comm-ctas "$ctas"; done
    done
  fi
} | tee "$OUT/summary.txt"
for log in gpu-tests validate-tiny gpu-bench validate-mixtral-nvlink validate-mixtral-shm validate-deepseek-nvlink \
  validate-deepseek-shm validate-{deepseek,mixtral}-shmcommctas{4,8,16}; do
  [[ -f "$LOGS/$log.log" ]] && { echo "--- $log"; tail -n 30 "$LOGS/$log.log"; } >>"$OUT/summary.txt"
done
tar -czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$LOGS"
tail -n 80 "$OUT/summary.txt"
# step ran inside the pipeline's subshell: its failures are the FAIL lines.
! grep -q '^FAIL' "$OUT/summary.txt"
