#!/usr/bin/env bash
# The calibration loop on a GPU node, one command (issue: "the calibration loop"):
#   scripts/accuracy_matrix.sh OUT_DIR [PARTS]
#     PARTS, comma-separated (default build,calibrate,matrix,extrapolate):
#     build      configure with SimGrid off and build into $COMET_GPU_BUILD_DIR (default build-gpu/)
#     tests      the GPU tests (ctest -L gpu)
#     tiny       on tests/data/validate-tiny-1gpu.yaml: comet validate -> OUT/tiny-measured.json and comet calibrate
#                --runs -> OUT/tiny-calibration-runs.json (CI fixtures for --measured and --fit-runs)
#     mpi        comet calibrate of the tiny scenario under `mpirun -np 1` (one process per GPU), when mpirun exists
#     leadin     the lead-in experiment: Mixtral's calibration Plans at 4096 and 16384 tokens with 0, 20 and
#                100 ms of lead-in GEMMs; scripts/op_consistency.py prints how much an op of one size varies
#                between Plans of different loads (OUT/leadin.txt)
#     calibrate  comet calibrate (default set) for each GPU count G of MATRIX_GPUS and transport T of
#                MATRIX_TRANSPORTS, each in its own process -> OUT/calibration-Ggpu-T.yaml and its measurements
#                (LOGS/calibration-runs-Ggpu-T.json; refit anywhere: comet calibrate --fit-runs)
#     matrix     comet validate on MATRIX_MODELS x MATRIX_TOKENS x MATRIX_ROUTINGS (default 4 models x 4096, 16384
#                x uniform, zipf 1.0), partitions none, fixed:2, fixed:4, tapered:4, dynamic, on one node of G GPUs
#                (expert parallelism G) over transport T, predicted with the calibration of the same G and T
#                (or $CALIBRATION); scripts/accuracy_table.py writes a table per G and T into OUT/matrix.txt
#     extrapolate  (no GPU work) the G > 2 matrices predicted again from the 2-GPU calibration of the same
#                transport (scripts/repredict_matrix.sh): does a model measured on 2 GPUs carry to 4 and 8?
#                -> OUT/extrapolate.txt
# MATRIX_GPUS: GPU counts (default: 1 on a one-GPU machine, else those of 2 4 8 the machine has);
# MATRIX_TRANSPORTS: nvlink (NCCL's default) and/or shm (NCCL_P2P_DISABLE=1: host shared memory)
# (default: nvlink on one GPU, else nvlink shm); GPU_MODEL: the calibration's GPU (default from
# nvidia-smi: h100-sxm on an H100, else h200); CALIBRATE_ARGS: extra `comet calibrate` options (e.g.
# a quick dry run: "--models mixtral-8x7b --tokens 4096 --chunks 1,2 --fused-blocks 0").
# Logs and measured JSON go to OUT/logs (tarred into OUT/logs.tgz at the end).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/accuracy_matrix.sh OUT_DIR [PARTS]}
PARTS=",${2:-build,calibrate,matrix,extrapolate},"
has() { [[ $PARTS == *",$1,"* ]]; }
export NCCL_NVLS_ENABLE=0
BUILD=${COMET_GPU_BUILD_DIR:-$PWD/build-gpu}
LOGS="$OUT/logs"
mkdir -p "$LOGS"
step() {  # step NAME COMMAND...: runs it with its log in LOGS/NAME.log
  local name=$1
  shift
  local start=$SECONDS
  if "$@" >"$LOGS/$name.log" 2>&1; then echo "ok    $name ($((SECONDS - start)) s)"; else echo "FAIL  $name ($((SECONDS - start)) s, see $name.log)"; tail -5 "$LOGS/$name.log"; fi
}
if has build; then
  step configure cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOMET_WITH_SIMGRID=OFF -DCOMET_WERROR=OFF
  step build cmake --build "$BUILD" -j "$(nproc)"
fi
if has tests; then
  step gpu-tests timeout -k 5 400 ctest --test-dir "$BUILD" -L gpu --output-on-failure -j1
fi
if has tiny; then
  step tiny-measured timeout -k 5 120 "$BUILD/comet" validate tests/data/validate-tiny-1gpu.yaml -o "$OUT/tiny-measured.json"
  step tiny-calibration timeout -k 5 120 "$BUILD/comet" calibrate tests/data/validate-tiny-1gpu.yaml --tokens 256,1024 --chunks 1,2 \
    --runs "$OUT/tiny-calibration-runs.json" -o "$LOGS/tiny-calibration.yaml"
fi
if has mpi && command -v mpirun >/dev/null; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  step mpi-calibrate timeout -k 5 180 mpirun -np 1 "$BUILD/comet-validate" calibrate tests/data/validate-tiny-1gpu.yaml \
    --tokens 256,1024 --chunks 1,2 -o "$LOGS/mpi-calibration.yaml"
  tail -4 "$LOGS/mpi-calibrate.log"
fi
if has leadin; then
  for ms in 0 20 100; do
    step "leadin-$ms" timeout -k 5 200 "$BUILD/comet" calibrate --models mixtral-8x7b --tokens 4096,16384 --chunks 1,2,4,8 \
      --lead-in-ms "$ms" --runs "$LOGS/leadin-$ms.json" -o "$LOGS/leadin-$ms.yaml"
  done
  python3 scripts/op_consistency.py "$LOGS"/leadin-{0,20,100}.json --kinds expert_gemm,expert_wgrad | tee "$OUT/leadin.txt"
fi
VISIBLE=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)
if [[ -z ${MATRIX_GPUS:-} ]]; then
  if ((VISIBLE <= 1)); then MATRIX_GPUS=1; else MATRIX_GPUS=$(for g in 2 4 8; do ((g <= VISIBLE)) && echo -n "$g "; done); fi
fi
if [[ -z ${MATRIX_TRANSPORTS:-} ]]; then
  if ((VISIBLE <= 1)); then MATRIX_TRANSPORTS=nvlink; else MATRIX_TRANSPORTS="nvlink shm"; fi
fi
if [[ -z ${GPU_MODEL:-} ]]; then
  if nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | grep -q H100; then GPU_MODEL=h100-sxm; else GPU_MODEL=h200; fi
fi
read -ra calibrate_args <<<"${CALIBRATE_ARGS:-}"
# transport_env nvlink|shm: NCCL's environment of a transport (shm: host shared memory, not NVLink).
transport_env() { [[ $1 == shm ]] && echo NCCL_P2P_DISABLE=1 || echo NCCL_NVLS_ENABLE=0; }
# calibration_of G T: the calibration predicting G GPUs over transport T ($CALIBRATION overrides all).
calibration_of() { echo "${CALIBRATION:-$OUT/calibration-$1gpu-$2.yaml}"; }
echo "# GPUs $MATRIX_GPUS, transports $MATRIX_TRANSPORTS, calibration GPU $GPU_MODEL (this machine: $VISIBLE GPU(s))"
if has calibrate; then
  for g in $MATRIX_GPUS; do
    for t in $MATRIX_TRANSPORTS; do
      step "calibrate-${g}gpu-$t" timeout -k 5 "${CALIBRATE_TIMEOUT_S:-600}" env $(transport_env "$t") "$BUILD/comet" calibrate \
        --gpu "$GPU_MODEL" --gpus "$g" "${calibrate_args[@]}" -o "$(calibration_of "$g" "$t")" \
        --runs "$LOGS/calibration-runs-${g}gpu-$t.json"
      tail -20 "$LOGS/calibrate-${g}gpu-$t.log"
    done
  done
fi
# matrix_scenario MODEL TOKENS ROUTING GPUS: one node of GPUS GPUs of GPU_MODEL, one expert-parallel
# group (one GPU: every expert local, no all-to-all).
matrix_scenario() {
  cat <<YAML
name: matrix-$1-$2-$3-$4gpu
topology: {name: node-$4, kind: node, node: {gpus: $4, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 0, gpu: $GPU_MODEL}}
model: {preset: $1}
parallelism: {expert_parallel: $4}
workload: {tokens_per_gpu: $2, steps: 1, seed: 7, routing: $( [[ $3 == zipf ]] && echo "{kind: zipf, alpha: 1.0}" || echo "{kind: uniform}")}
policies: {placement: [contiguous], partition: [none, "fixed:2", "fixed:4", "tapered:4", dynamic], a2a: [direct]}
YAML
}
if has matrix; then
  for g in $MATRIX_GPUS; do
    for t in $MATRIX_TRANSPORTS; do
      dir="$LOGS/matrix-${g}gpu-$t"
      mkdir -p "$dir"
      for model in ${MATRIX_MODELS:-mixtral-8x7b deepseek-v3 qwen2-moe phi-3.5-moe}; do
        for tokens in ${MATRIX_TOKENS:-4096 16384}; do
          for routing in ${MATRIX_ROUTINGS:-uniform zipf}; do
            name="$model-$tokens-$routing"
            matrix_scenario "$model" "$tokens" "$routing" "$g" >"$dir/$name.yaml"
            step "matrix-${g}gpu-$t-$name" timeout -k 5 300 env $(transport_env "$t") "$BUILD/comet" validate "$dir/$name.yaml" \
              --calibration "$(calibration_of "$g" "$t")" -o "$dir/$name.json"
          done
        done
      done
      { echo "## $g GPU(s), $t, predicted with $(basename "$(calibration_of "$g" "$t")")"
        python3 scripts/accuracy_table.py "$dir"/*.json --json "$OUT/matrix-${g}gpu-$t.json"; echo; } | tee -a "$OUT/matrix.txt"
    done
  done
fi
if has extrapolate; then
  for g in $MATRIX_GPUS; do
    ((g > 2)) || continue
    for t in $MATRIX_TRANSPORTS; do
      two=$(calibration_of 2 "$t")
      [[ -f $two && -d $LOGS/matrix-${g}gpu-$t ]] || { echo "skip  extrapolate ${g}gpu $t (needs $two and the ${g}-GPU matrix)"; continue; }
      { echo "## $g GPU(s), $t, predicted with the 2-GPU calibration $(basename "$two")"
        COMET="$BUILD/comet" CALIBRATION=$two scripts/repredict_matrix.sh "$LOGS/matrix-${g}gpu-$t" "$LOGS/extrapolate-${g}gpu-$t"; echo; } | tee -a "$OUT/extrapolate.txt"
    done
  done
fi
tar -czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$LOGS"
