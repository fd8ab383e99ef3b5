#!/usr/bin/env bash
# Each engine's error on one isolated all-to-all phase against per-pair max-min (issue 14, item 5):
# the forward dispatch of a `none` layer (Mixtral, 4096 tokens per GPU, one expert-parallel group
# of all GPUs, so nothing else shares the network), interference off; the reference is the flow
# engine with one flow per GPU pair (no coalescing) and every completion its own event
# (COMET_FLOW_WINDOW=0), which tests/flow_reference_test.cpp checks against an exact event-driven
# max-min within 0.01%. "flow coal" is the flow engine as users run it (coalesced, its default
# completion window).
#   scripts/engine_errors.sh [GPU_COUNTS] [OUT_DIR]      (default: "64 128", a temp dir)
#   MODEL=deepseek-v3 EXPERTS=256 scripts/engine_errors.sh "128"   (default MODEL mixtral-8x7b,
#   EXPERTS = the GPU count; DeepSeek-V3's top-8 over 256 experts is where in-step and per-flow
#   max-min part: docs/engines.md); TYPES and ROUTINGS narrow the clusters and routings; ALPHA
#   sets zipf's exponent (default: the scenario's); REF_WINDOW the reference's completion window
#   (default 0, exact; 1e-4 makes 256 GPUs per pair take a minute, -0.008% at 128)
set -euo pipefail
cd "$(dirname "$0")/.."
COMET=${COMET:-$PWD/build/comet}
SIZES=${1:-64 128}
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
cat >"$OUT/no-interference.yaml" <<'YAML'
gpu: h100-sxm
comm_sm_share: 0
comm_slowdown_with_compute: 0
memory_kernel_interference: 0
YAML
dispatch_s() {  # dispatch_s TIMELINE: the forward dispatch all-to-all's duration
  python3 -c 'import json,sys
ops=[o for o in json.load(open(sys.argv[1]))["ops"] if o["kind"]=="all_to_all" and o["direction"]=="forward" and o["phase"]=="dispatch"]
print(max(o["end_s"] for o in ops)-min(o["start_s"] for o in ops))' "$1"
}
printf '%-6s %-9s %-12s %12s %9s %9s %9s\n' gpus topology routing "flow/pair ms" phase analytic "flow coal"
printf '%-6s %-9s %-12s %12s %9s %9s %9s\n' '#' '' '' ms '%' '%' '%'
for gpus in $SIZES; do
  for type in ${TYPES:-tree fat-tree rail}; do
    for routing in ${ROUTINGS:-uniform zipf hot-experts}; do
      s="$OUT/$type-$gpus-$routing.yaml"
      "$COMET" init --cluster-type "$type" --gpus "$gpus" --expert-count "${EXPERTS:-$gpus}" --model "${MODEL:-mixtral-8x7b}" -o "$s" >/dev/null 2>&1
      alpha=; [ "$routing" = zipf ] && alpha=${ALPHA:-}  # only zipf takes an exponent
      sed -i "s/^    kind: uniform .*/    kind: $routing${alpha:+\\n    alpha: $alpha}/" "$s"
      run() { "$COMET" simulate "$s" --partition none --calibration "$OUT/no-interference.yaml" --timeline "$OUT/$1.json" "${@:2}" >/dev/null; dispatch_s "$OUT/$1.json"; }
      ref=$(COMET_FLOW_WINDOW=${REF_WINDOW:-0} COMET_FLOW_PAIR_LIMIT=100000000 run pair --engine flow)
      phase=$(run phase --engine phase)
      analytical=$(run analytical --engine analytical)
      coalesced=$(run coalesced --engine flow)
      python3 -c 'import sys
g,t,r,ref,*e=sys.argv[1:]; ref=float(ref)
print(f"{g:<6} {t:<9} {r:<12} {ref*1e3:12.3f} " + " ".join(f"{(float(x)-ref)/ref*100:+9.2f}" for x in e))' \
        "$gpus" "$type" "$routing" "$ref" "$phase" "$analytical" "$coalesced"
    done
  done
done
