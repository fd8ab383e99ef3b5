#!/usr/bin/env bash
# The whole GPU check in one command, for the GPU machine (CUDA, NCCL and the libraries, but no
# SimGrid and no package registry): configure with SimGrid off, build, run the GPU tests, the
# kernel benchmarks and a fixed set of validation runs. Logs and JSON go to OUT (summary.txt,
# logs.tgz with every log and measured JSON).
#   scripts/gpu_check.sh OUT_DIR [PARTS]
#     PARTS, comma-separated (default build,tests,bench,validations):
#     build        configure and build into $COMET_GPU_BUILD_DIR (default build-gpu/, kept between calls)
#     tests        the GPU tests (ctest -L gpu), the tiny validation, threaded and under mpirun
#     bench        comet_gpu_bench: expert FFN (one stream and lanes) vs dense GEMM, all-to-all-v vs all-to-all
#     validations  DeepSeek-V3, Mixtral and Mixtral at 16K tokens/GPU over NVLink and shared memory
#     ctas         the shared-memory validations with NCCL limited to 4, 8 and 16 CTAs
#     lanes        the shared-memory validations with the expert GEMMs on 1 and 8 lanes (default 4)
#     overlap      the overlap case (Mixtral, 16K tokens/GPU, shared memory) for equal and tapered
#                  chunks, with and without SMs set aside for NCCL (--comm-ctas, --pipeline-gemm-sms)
#     sockets      every validation scenario over sockets (NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1, loopback):
#                  the slowest transport the issue names, where communication outweighs compute
#     interference comet_gpu_bench --sections interference over NVLink and shared memory, with NCCL's and
#                  cuBLAS's defaults and with SMs split between them (--comm-ctas, --gemm-sms), while
#                  nvidia-smi samples GPU 0 (SM clock and power per measured loop)
#     clocks       the overlap case's none alone, then none + fixed:4, each with 60 repeats while
#                  nvidia-smi samples GPU 0's SM clock, power and power cap (scripts/clock_samples.py)
#     grouped      the one-GPU validations (DeepSeek-V3, Mixtral at 16K tokens) with the experts' GEMMs
#                  per expert on cuBLAS, as one CUTLASS grouped GEMM per projection, and auto
#     fused        COMET's fused kernels (dispatch + GEMM, GEMM + combine): their GPU tests, torch._grouped_mm on
#                  the same expert shapes (scripts/grouped_mm_reference.py; and in one process with comet's kernels,
#                  scripts/grouped_mm_vs_comet.py), comet_gpu_bench --sections fused (GEMM
#                  part vs cuBLAS and CUTLASS grouped, overlap per transfer-block count) with the other GPUs'
#                  buffers in host-mapped memory, in this GPU's memory (no link: the kernels' own cost) and, with 2
#                  GPUs or more, on the other GPUs (peer access); then comet validate of comet:8 and comet:16 on the
#                  one-GPU Mixtral 16K and DeepSeek-V3 scenarios (predicted against measured)
#     fusedcal     comet calibrate of Mixtral and DeepSeek-V3 (FUSEDCAL_MODELS) on this GPU with comet:8 and :16
#                  measured too (the fused GEMM's scale per shape, B, launch and M) -> OUT/fused-calibration-GPU.yaml, then comet
#                  validate of comet:8 and comet:16 on the one-GPU Mixtral 16K and DeepSeek-V3 scenarios (their
#                  GPU set to this card's) with that calibration (predicted against measured)
#     fusedgpus    (2 GPUs or more) comet:B between GPUs: the two-GPU fused policy test, then comet validate of every
#                  validate-*-2gpu scenario over NVLink with none, fixed:4, tapered:4, dynamic, fine and comet:B at
#                  B = 8, 16, 24 (the SM splits), predicted with FUSED_CALIBRATION when set (else the shipped one)
#     hunt         the fused kernels under compute-sanitizer memcheck (their GPU tests; the fused bench on the
#                  Mixtral and DeepSeek-V3 4K shapes with bands of 8), then the shape that hung (Mixtral 16K,
#                  bands of 8, sends per warp) in HUNT_RUNS fresh processes (default 4), each watchdog report kept
#     unpermute    the fused GPU tests, then comet_gpu_bench --sections unpermute (the fused combine with this GPU's
#                  unpermute in its launch against the launch then combine_rows) for UNPERMUTE_MODELS at UNPERMUTE_TOKENS,
#                  UNPERMUTE_SENDS send blocks and UNPERMUTE_BLOCKS unpermute blocks
#     quick        = build,tests
# Environment: COMET_GPU_TARGETS (what `build` builds), STEP_TIMEOUT_S, FUSED_BLOCKS, FUSED_BANDS,
# FUSED_MODELS, FUSED_TOKENS, FUSED_RUNS, FUSED_LOCAL, FUSED_VALIDATE, FUSED_BENCH_TIMEOUT_S, UNPERMUTE_* (see the parts above).
# The GPU count decides what runs: on one GPU, `tests` runs the one-GPU tiny scenario and
# `validations` the one-GPU scenarios; the parts that need two GPUs or more (transports,
# interference, mpirun with 2 ranks) print "skip" lines. Every step runs under a time limit
# (STEP_TIMEOUT_S, default 900 s, or its own), so a hang ends as a FAIL line, never a stuck call.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/gpu_check.sh OUT_DIR [PARTS]}
PARTS=",${2:-build,tests,bench,validations},"
[[ $PARTS == ",quick," ]] && PARTS=",build,tests,"
has() { [[ $PARTS == *",$1,"* ]]; }
mkdir -p "$OUT/logs"
export NCCL_NVLS_ENABLE=0  # never NVLink multicast on shared machines
BUILD=${COMET_GPU_BUILD_DIR:-$PWD/build-gpu}
jobs=$(nproc)
LOGS="$OUT/logs"

GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)
step() {  # step NAME COMMAND...: runs it (time-limited) with its log in LOGS/NAME.log, records failure
  local name=$1
  shift
  local start=$SECONDS
  if timeout -k 10 "${STEP_TIMEOUT_S:-900}" "$@" >"$LOGS/$name.log" 2>&1; then
    echo "ok    $name ($((SECONDS - start)) s)"
  else
    echo "FAIL  $name ($((SECONDS - start)) s, see $name.log)"
  fi
}
# multi_gpu NAME: true with two GPUs or more, else prints NAME's skip line.
multi_gpu() {
  ((GPUS >= 2)) && return 0
  echo "skip  $1 (needs 2 GPUs, this machine has $GPUS)"
  return 1
}
# transport_env nvlink|shm|sock: the NCCL environment of a transport. shm = host shared memory
# instead of NVLink (NCCL_P2P_DISABLE=1): a slower transport, so communication matters; sock =
# NCCL's socket transport over loopback (shared memory off too), slower still.
transport_env() {
  case $1 in
    shm) echo NCCL_P2P_DISABLE=1 ;;
    sock) echo NCCL_P2P_DISABLE=1 NCCL_SHM_DISABLE=1 NCCL_SOCKET_IFNAME=lo ;;
  esac
}
# validate_step MODEL nvlink|shm|sock [OPTIONS...]: comet validate on
# scenarios/validate-MODEL-2gpu.yaml. The log and JSON are named after the arguments.
validate_step() {
  local model=$1 transport=$2
  shift 2
  local name="validate-$model-$transport$(printf -- '%s' "$@" | tr -d ' -')"
  local env
  read -ra env <<<"$(transport_env "$transport")"
  step "$name" timeout -k 5 150 env "${env[@]}" "$BUILD/comet" validate "scenarios/validate-$model-2gpu.yaml" \
    --measure-only -o "$LOGS/$name.json" "$@"
}
# sampled_step NAME WINDOWS COMMAND...: step NAME while nvidia-smi samples GPU 0's SM clock and
# power every 20 ms; then scripts/clock_samples.py appends the clocks to NAME's log (per `# window`
# line of that log when WINDOWS is "windows", else over the busy samples).
sampled_step() {
  local name=$1 windows=$2
  shift 2
  nvidia-smi --query-gpu=timestamp,index,clocks.sm,power.draw,clocks_event_reasons.sw_power_cap --format=csv,noheader \
    -lms 20 >"$LOGS/$name.csv" &
  local sampler=$!
  step "$name" "$@"
  kill "$sampler"
  local log=()
  [[ $windows == windows ]] && log=("$LOGS/$name.log")
  scripts/clock_samples.py "$LOGS/$name.csv" "${log[@]}" >>"$LOGS/$name.log"
}
# interference_step NAME nvlink|shm [OPTIONS...]: comet_gpu_bench's interference section, sampled.
interference_step() {
  local name=$1 env
  read -ra env <<<"$(transport_env "$2")"
  shift 2
  sampled_step "interference-$name" windows timeout -k 5 200 env "${env[@]}" "$BUILD/comet_gpu_bench" \
    --sections interference "$@"
}
{
  date -u
  step gpus nvidia-smi
  if has build; then
    # No -Werror here: the GPU image has GCC 13, whose -Warray-bounds gives false positives on
    # std::vector<int> growth in plan_builder.cpp (GCC 12, used by CI, builds warning-free).
    step configure cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCOMET_WITH_SIMGRID=OFF -DCOMET_WERROR=OFF
    # COMET_GPU_TARGETS (space-separated): build only these (e.g. "comet_gpu_tests comet_gpu_bench" for the
    # fused part, whose CUTLASS files take most of a full build); default every target.
    read -ra targets <<<"${COMET_GPU_TARGETS:-all}"
    step build cmake --build "$BUILD" -j "$jobs" --target "${targets[@]}"
  fi
  if has tests; then
    step gpu-tests timeout -k 5 300 ctest --test-dir "$BUILD" -L gpu --output-on-failure
    if ((GPUS >= 2)); then tiny=tests/data/validate-tiny.yaml; ranks=2; else tiny=tests/data/validate-tiny-1gpu.yaml; ranks=1; fi
    step validate-tiny timeout -k 5 120 "$BUILD/comet" validate "$tiny" --measure-only -o "$LOGS/validate-tiny.json"
    step validate-tiny-mpi timeout -k 5 120 mpirun --allow-run-as-root --oversubscribe -np "$ranks" "$BUILD/comet-validate" \
      "$tiny" --measure-only -o "$LOGS/validate-tiny-mpi.json"
  fi
  has bench && step gpu-bench timeout -k 5 240 "$BUILD/comet_gpu_bench"
  if has validations && ((GPUS < 2)); then
    for model in deepseek mixtral16k; do
      step "validate-$model-1gpu" timeout -k 5 150 "$BUILD/comet" validate "scenarios/validate-$model-1gpu.yaml" \
        -o "$LOGS/validate-$model-1gpu.json"
    done
    multi_gpu "validations over NVLink, shared memory and mpirun"
  elif has validations; then
    for model in deepseek mixtral mixtral16k; do
      validate_step "$model" nvlink
      validate_step "$model" shm
    done
    step validate-mixtral16k-shm-mpi timeout -k 5 150 env NCCL_P2P_DISABLE=1 mpirun --allow-run-as-root -x NCCL_P2P_DISABLE \
      -x NCCL_NVLS_ENABLE -np 2 "$BUILD/comet-validate" scenarios/validate-mixtral16k-2gpu.yaml --measure-only \
      -o "$LOGS/validate-mixtral16k-shm-mpi.json"
  fi
  if has lanes && multi_gpu lanes; then
    for lanes in 1 8; do
      for model in deepseek mixtral16k; do validate_step "$model" shm --expert-lanes "$lanes"; done
    done
  fi
  if has overlap && multi_gpu overlap; then
    validate_step mixtral16k shm --partitions none,fixed:4,tapered:4,fixed:8,tapered:8
    validate_step mixtral16k shm --partitions none,fixed:4,tapered:4 --comm-ctas 8 --pipeline-gemm-sms 116
    validate_step mixtral16k shm --partitions none,fixed:4,tapered:4 --pipeline-gemm-sms 124
    validate_step deepseek shm --partitions none,fixed:2,fixed:4,tapered:4 --comm-ctas 8 --pipeline-gemm-sms 116
  fi
  if has grouped; then
    for model in deepseek mixtral16k; do
      for gemm in cublas grouped auto; do
        step "validate-$model-1gpu-$gemm" timeout -k 5 150 "$BUILD/comet" validate "scenarios/validate-$model-1gpu.yaml" \
          --expert-gemm "$gemm" -o "$LOGS/validate-$model-1gpu-$gemm.json"
      done
    done
  fi
  if has fused; then
    step fused-tests timeout -k 5 300 "$BUILD/comet_gpu_tests" --gtest_filter='Fused*'
    # The same expert shapes (EP 2: Mixtral 4 experts, DeepSeek-V3 128; rows = tokens x top_k / experts):
    # the dispatch side's gate+up projection (K hidden, N 2 x ffn), then the combine side's down projection.
    expert_shapes=(mixtral-8x7b:4:2048:4096:28672 mixtral-8x7b:4:8192:4096:28672 deepseek-v3:128:256:7168:4096
                   deepseek-v3:128:1024:7168:4096 mixtral-8x7b:4:2048:14336:4096 mixtral-8x7b:4:8192:14336:4096
                   deepseek-v3:128:256:2048:7168 deepseek-v3:128:1024:2048:7168)
    step grouped-mm-reference timeout -k 5 300 python3 scripts/grouped_mm_reference.py "${expert_shapes[@]}"
    # comet's kernels (the C API's library) and torch._grouped_mm in one process, timed in the same rounds.
    step grouped-mm-vs-comet timeout -k 5 300 python3 scripts/grouped_mm_vs_comet.py --lib "$BUILD/kernels/libcomet_gemm_c.so" \
      --json "$LOGS/grouped-mm-vs-comet.json" "${expert_shapes[@]}"
    # FUSED_BLOCKS: transfer-block counts; FUSED_BANDS: tile bands, each timed for the GEMM part and
    # the overlap (comet_gpu_bench --help), the first the kernels' default (FUSED_BAND_TILES) so that
    # the GEMM table and every order and store variant are the default's.
    # FUSED_PACES: combine send rates to time too, GB/s (--send-paces; none by default).
    read -ra fused_args <<<"--copy-blocks ${FUSED_BLOCKS:-2 4 6 8 12 16} --band-tiles ${FUSED_BANDS:-16 0 8}${FUSED_PACES:+ --send-paces $FUSED_PACES}"
    # One process per model and token count: a kernel whose watchdog trips cannot leave its state
    # to the next shape's launches (2026-12-06: after one hang, every later shape of the process
    # timed out on flags no table holds).
    # FUSED_RUNS: processes per shape (the card's drift between processes is of the size of the margins).
    # FUSED_LAYOUTS: the experts' weights layouts to time, each in its own process, one after the
    # other per shape (--weights-layout: kn = [k, n], comet's; nk = [n, k], nn.Linear's).
    for model in ${FUSED_MODELS:-mixtral-8x7b deepseek-v3}; do
      for tokens in ${FUSED_TOKENS:-4096 16384}; do
        for ((run = 1; run <= ${FUSED_RUNS:-1}; ++run)); do
          for layout in ${FUSED_LAYOUTS:-kn}; do
            name="fused-bench-$model-$tokens"
            [[ $layout != kn ]] && name+="-$layout"
            ((${FUSED_RUNS:-1} > 1)) && name+="-run$run"
            step "$name" timeout -k 5 "${FUSED_BENCH_TIMEOUT_S:-600}" "$BUILD/comet_gpu_bench" --sections fused \
              --models "$model" --tokens "$tokens" --weights-layout "$layout" "${fused_args[@]}"
          done
        done
      done
    done
    # No link: the other sources' buffers in this GPU's memory, so what the fused launch adds to its
    # GEMM is the kernels' own cost (set FUSED_LOCAL=0 to skip).
    if [[ ${FUSED_LOCAL:-1} != 0 ]]; then
      step fused-bench-local timeout -k 5 "${FUSED_BENCH_TIMEOUT_S:-600}" "$BUILD/comet_gpu_bench" --sections fused \
        --fused-transport local --tokens 4096 16384 "${fused_args[@]}"
    fi
    # The fused kernels as the comet:B policy in comet validate on one GPU (FUSED_VALIDATE=0 skips).
    for model in $( [[ ${FUSED_VALIDATE:-1} != 0 ]] && echo mixtral16k deepseek); do
      step "validate-fused-$model-1gpu" timeout -k 5 300 "$BUILD/comet" validate "scenarios/validate-$model-1gpu.yaml" \
        --partitions none,comet:8,comet:16 -o "$LOGS/validate-fused-$model-1gpu.json"
    done
    # Between GPUs: the other GPUs' buffers reached by peer access (NVLink or PCIe).
    if multi_gpu fused-bench-peer; then
      step fused-bench-peer timeout -k 5 "${FUSED_BENCH_TIMEOUT_S:-600}" "$BUILD/comet_gpu_bench" --sections fused \
        --fused-transport peer --tokens 4096 16384 "${fused_args[@]}"
    fi
  fi
  if has fusedgpus && multi_gpu fusedgpus; then
    step fusedgpus-tests timeout -k 5 300 "$BUILD/comet_gpu_tests" --gtest_filter='ValidateCli.TwoGpuFused*'
    calibration=()
    [[ -n ${FUSED_CALIBRATION:-} ]] && calibration=(--calibration "$FUSED_CALIBRATION")
    for model in mixtral mixtral16k deepseek; do
      step "fusedgpus-$model" timeout -k 5 400 "$BUILD/comet" validate "scenarios/validate-$model-2gpu.yaml" \
        --partitions none,fixed:4,tapered:4,dynamic,fine,comet:8,comet:16,comet:24 "${calibration[@]}" \
        -o "$LOGS/fusedgpus-$model.json"
    done
  fi
  if has hunt; then
    sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
    if [[ -z $sanitizer ]]; then
      echo "skip  hunt-memcheck (no compute-sanitizer on this machine)"
    else
      memcheck=(timeout -k 5 "${HUNT_MEMCHECK_TIMEOUT_S:-300}" "$sanitizer" --tool memcheck --error-exitcode 9 --print-limit 20)
      step hunt-memcheck-tests "${memcheck[@]}" "$BUILD/comet_gpu_tests" --gtest_filter='Fused*'
      for model in mixtral-8x7b deepseek-v3; do
        step "hunt-memcheck-bench-$model" "${memcheck[@]}" "$BUILD/comet_gpu_bench" --sections fused --models "$model" \
          --tokens 4096 --copy-blocks 4 --band-tiles 0 8 --rounds 1
      done
    fi
    for run in $(seq "${HUNT_RUNS:-4}"); do
      step "hunt-mixtral16k-$run" timeout -k 5 "${FUSED_BENCH_TIMEOUT_S:-240}" "$BUILD/comet_gpu_bench" --sections fused \
        --models mixtral-8x7b --tokens 16384 --copy-blocks 2 4 --band-tiles 0 8 --rounds 2
      grep -h "watchdog\|gave up" "$LOGS/hunt-mixtral16k-$run.log" | head -5
    done
  fi
  if has unpermute; then
    step unpermute-tests timeout -k 5 300 "$BUILD/comet_gpu_tests" --gtest_filter='Fused*'
    # shellcheck disable=SC2086
    step unpermute-bench timeout -k 5 "${FUSED_BENCH_TIMEOUT_S:-240}" "$BUILD/comet_gpu_bench" --sections unpermute \
      --models ${UNPERMUTE_MODELS:-mixtral-8x7b deepseek-v3} --tokens ${UNPERMUTE_TOKENS:-4096} --copy-blocks ${UNPERMUTE_SENDS:-4 8} \
      --unpermute-blocks ${UNPERMUTE_BLOCKS:-2 4 8}
  fi
  if has fusedcal; then
    # The card's model: the calibration is of it, and the scenarios it predicts name it.
    gpu=h200
    [[ $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) == *H100* ]] && gpu=h100-sxm
    step fusedcal-calibrate timeout -k 5 "${FUSEDCAL_TIMEOUT_S:-480}" "$BUILD/comet" calibrate --gpu "$gpu" \
      --models "${FUSEDCAL_MODELS:-mixtral-8x7b,deepseek-v3}" --fused-blocks 8,16 -o "$OUT/fused-calibration-$gpu.yaml" \
      --runs "$LOGS/fused-calibration-runs.json"
    for model in mixtral16k deepseek; do
      sed "s/gpu: h200/gpu: $gpu/" "scenarios/validate-$model-1gpu.yaml" >"$LOGS/validate-$model-1gpu-$gpu.yaml"
      step "fusedcal-validate-$model" timeout -k 5 300 "$BUILD/comet" validate "$LOGS/validate-$model-1gpu-$gpu.yaml" \
        --partitions none,comet:8,comet:16 --calibration "$OUT/fused-calibration-$gpu.yaml" -o "$LOGS/fusedcal-validate-$model.json"
    done
  fi
  if has sockets && multi_gpu sockets; then
    for model in mixtral16k mixtral deepseek; do validate_step "$model" sock; done
    validate_step mixtral16k sock --partitions none,fixed:4,tapered:4,fixed:8
  fi
  if has interference && multi_gpu interference; then
    interference_step nvlink nvlink
    interference_step nvlink-sms116-ctas16 nvlink --gemm-sms 116 --comm-ctas 16
    interference_step shm shm
    interference_step shm-ctas2 shm --comm-ctas 2
    interference_step shm-sms124-ctas8 shm --gemm-sms 124 --comm-ctas 8
  fi
  if has clocks && multi_gpu clocks; then
    for partitions in none none,fixed:4; do
      sampled_step "clocks-$partitions" busy timeout -k 5 150 env NCCL_P2P_DISABLE=1 "$BUILD/comet" validate \
        scenarios/validate-mixtral16k-2gpu.yaml --measure-only --partitions "$partitions" --repeats 60 --warmup 3
    done
  fi
  if has ctas && multi_gpu ctas; then
    for ctas in 4 8 16; do
      for model in deepseek mixtral16k; do validate_step "$model" shm --comm-ctas "$ctas"; done
    done
  fi
} | tee "$OUT/summary.txt"
# Every step's log but the build's, in the order they ran.
for log in $(ls -tr "$LOGS"/*.log); do
  case $(basename "$log") in configure.log | build.log | gpus.log) continue ;; esac
  { echo "--- $(basename "$log" .log)"; tail -n 30 "$log"; } >>"$OUT/summary.txt"
done
tar -czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$LOGS"
tail -n 80 "$OUT/summary.txt"
# step ran inside the pipeline's subshell: its failures are the FAIL lines.
! grep -q '^FAIL' "$OUT/summary.txt"
