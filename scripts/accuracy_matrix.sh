#!/usr/bin/env bash
# The calibration loop on a GPU node, one command (issue: "the calibration loop"):
#   scripts/accuracy_matrix.sh OUT_DIR [PARTS]
#     PARTS, comma-separated (default build,calibrate,matrix):
#     build      configure with SimGrid off and build into $COMET_GPU_BUILD_DIR (default build-gpu/)
#     tests      the GPU tests (ctest -L gpu)
#     tiny       on tests/data/validate-tiny-1gpu.yaml: comet validate -> OUT/tiny-measured.json and comet calibrate
#                --runs -> OUT/tiny-calibration-runs.json (CI fixtures for --measured and --fit-runs)
#     mpi        comet calibrate of the tiny scenario under `mpirun -np 1` (one process per GPU), when mpirun exists
#     leadin     the lead-in experiment: Mixtral's calibration Plans at 4096 and 16384 tokens with 0, 20 and
#                100 ms of lead-in GEMMs; scripts/op_consistency.py prints how much an op of one size varies
#                between Plans of different loads (OUT/leadin.txt)
#     calibrate  comet calibrate (default set, 1 GPU) -> OUT/h200.yaml and its measurements
#                OUT/calibration-runs.json (refit anywhere: comet calibrate --fit-runs), in its own process
#     matrix     comet validate on 4 models x 2 token loads x 2 routings (uniform, zipf 1.0), partitions
#                none, fixed:2, fixed:4, tapered:4, dynamic, predicted with OUT/h200.yaml (or $CALIBRATION);
#                then scripts/accuracy_table.py writes OUT/matrix.txt and OUT/matrix.json
# Logs and measured JSON go to OUT/logs (tarred into OUT/logs.tgz at the end).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/accuracy_matrix.sh OUT_DIR [PARTS]}
PARTS=",${2:-build,calibrate,matrix},"
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
CALIBRATION=${CALIBRATION:-$OUT/h200.yaml}
if has calibrate; then
  step calibrate timeout -k 5 400 "$BUILD/comet" calibrate --gpus 1 -o "$CALIBRATION" --runs "$OUT/calibration-runs.json"
  cat "$LOGS/calibrate.log"
fi
# matrix_scenario MODEL TOKENS ROUTING: a one-GPU H200 scenario, every expert local (no all-to-all).
matrix_scenario() {
  cat <<YAML
name: matrix-$1-$2-$3
topology: {name: node-1, kind: node, node: {gpus: 1, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 0, gpu: h200}}
model: {preset: $1}
parallelism: {expert_parallel: 1}
workload: {tokens_per_gpu: $2, steps: 1, seed: 7, routing: $( [[ $3 == zipf ]] && echo "{kind: zipf, alpha: 1.0}" || echo "{kind: uniform}")}
policies: {placement: [contiguous], partition: [none, "fixed:2", "fixed:4", "tapered:4", dynamic], a2a: [direct]}
YAML
}
if has matrix; then
  mkdir -p "$LOGS/matrix"
  for model in mixtral-8x7b deepseek-v3 qwen2-moe phi-3.5-moe; do
    for tokens in 4096 16384; do
      for routing in uniform zipf; do
        name="$model-$tokens-$routing"
        matrix_scenario "$model" "$tokens" "$routing" >"$LOGS/matrix/$name.yaml"
        step "matrix-$name" timeout -k 5 240 "$BUILD/comet" validate "$LOGS/matrix/$name.yaml" --calibration "$CALIBRATION" \
          -o "$LOGS/matrix/$name.json"
      done
    done
  done
  python3 scripts/accuracy_table.py "$LOGS"/matrix/*.json --json "$OUT/matrix.json" | tee "$OUT/matrix.txt"
fi
tar -czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$LOGS"
