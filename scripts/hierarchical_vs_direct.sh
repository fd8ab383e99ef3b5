#!/usr/bin/env bash
# Where the hierarchical all-to-all beats the direct one (issue 14, item 7): layer time (forward +
# backward, `none`, contiguous) of each, against GPU count, tokens per GPU and model, on
# clusters from `comet init` (256 experts, EP = min(GPUs, 256), zipf(0.3) routing unless
# ROUTING=uniform).
#   scripts/hierarchical_vs_direct.sh [GPU_COUNTS] [TOKENS] [MODELS] [ENGINE]
#   (defaults: "64 256 1024", "1024 4096 16384", "mixtral-8x7b deepseek-v3", analytical);
#   ROUTING=uniform for uniform routing instead of zipf(0.3); CLUSTER=rail|tree (default fat-tree)
set -euo pipefail
cd "$(dirname "$0")/.."
COMET=${COMET:-$PWD/build/comet}
SIZES=${1:-64 256 1024}
TOKENS=${2:-1024 4096 16384}
MODELS=${3:-mixtral-8x7b deepseek-v3}
ENGINE=${4:-analytical}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
layer_ms() { python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["layer_time_s"] * 1e3))' "$1"; }
printf '%-14s %-6s %-7s %12s %12s %9s\n' model gpus tokens direct hierarchical speedup
printf '%-14s %-6s %-7s %12s %12s %9s\n' '#' '' '' ms ms x
for model in $MODELS; do
  for gpus in $SIZES; do
    s="$OUT/$model-$gpus.yaml"
    "$COMET" init --cluster-type "${CLUSTER:-fat-tree}" --gpus "$gpus" --expert-count 256 --model "$model" -o "$s" >/dev/null 2>&1
    [[ ${ROUTING:-zipf} == zipf ]] && sed -i 's/^    kind: uniform .*/    kind: zipf\n    alpha: 0.3/' "$s"
    for tokens in $TOKENS; do
      sed -i "s/^  tokens_per_gpu: .*/  tokens_per_gpu: $tokens/" "$s"
      run() { "$COMET" simulate "$s" --engine "$ENGINE" --partition none --placement contiguous --a2a "$1" --json >"$OUT/$1.json"; layer_ms "$OUT/$1.json"; }
      direct=$(run direct)
      hierarchical=$(run hierarchical)
      python3 -c 'import sys
m,g,t,d,h=sys.argv[1:]
print(f"{m:<14} {g:<6} {t:<7} {float(d):12.3f} {float(h):12.3f} {float(d)/float(h):9.3f}")' "$model" "$gpus" "$tokens" "$direct" "$hierarchical"
    done
  done
done
