#!/usr/bin/env bash
# What per-GPU all-to-all completion changes (issue 14, item 3): layer time (forward + backward)
# with each GPU's part of an all-to-all ending on its own (the engines' default) against every
# part ending with the whole op (COMET_A2A_COMPLETION=group, the engines before 2026-12-03), for
# `none` and `fixed:4`, on ragged routings. DeepSeek-V3 (256 experts), 4096 tokens per GPU, EP =
# min(GPUs, 256), fat-tree clusters from `comet init`.
#   scripts/completion_effect.sh [GPU_COUNTS] [ENGINES] [OUT_DIR]   (default: "64 256 1024", "analytical", a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
COMET=${COMET:-$PWD/build/comet}
SIZES=${1:-64 256 1024}
ENGINES=${2:-analytical}
OUT=${3:-$(mktemp -d)}
mkdir -p "$OUT"
layer_ms() { python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["layer_time_s"] * 1e3))' "$1"; }
printf '%-10s %-6s %-12s %-8s %12s %12s %8s\n' engine gpus routing policy per-gpu group change
printf '%-10s %-6s %-12s %-8s %12s %12s %8s\n' '#' '' '' '' ms ms '%'
for gpus in $SIZES; do
  for routing in zipf hot-experts; do
    s="$OUT/fat-tree-$gpus-$routing.yaml"
    "$COMET" init --cluster-type fat-tree --gpus "$gpus" --expert-count 256 -o "$s" >/dev/null 2>&1
    if [[ $routing == zipf ]]; then
      sed -i 's/^    kind: uniform .*/    kind: zipf\n    alpha: 0.3/' "$s"
    else
      sed -i "s/^    kind: uniform .*/    kind: $routing/" "$s"
    fi
    for engine in $ENGINES; do
      for policy in none fixed:4; do
        run() { "$COMET" simulate "$s" --engine "$engine" --partition "$policy" --placement contiguous --a2a direct --json >"$OUT/$1.json"; layer_ms "$OUT/$1.json"; }
        per_gpu=$(run per-gpu)
        group=$(COMET_A2A_COMPLETION=group run group)
        python3 -c 'import sys
e,g,r,p,a,b=sys.argv[1:]; a=float(a); b=float(b)
print(f"{e:<10} {g:<6} {r:<12} {p:<8} {a:12.3f} {b:12.3f} {(a-b)/b*100:+8.2f}")' "$engine" "$gpus" "$routing" "$policy" "$per_gpu" "$group"
      done
    done
  done
done
