#!/usr/bin/env bash
# The accuracy matrix again from recorded measurements, on any machine (no GPU): every measured
# JSON of DIR predicted by `comet validate --measured` with CALIBRATION (default: the shipped one
# of the scenario's GPU), then the table.
#   scripts/repredict_matrix.sh [DIR] [OUT_DIR]     (defaults: benchmarks/accuracy-matrix-h200, a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-benchmarks/accuracy-matrix-h200}
OUT=${2:-$(mktemp -d)}
COMET=${COMET:-build/comet}
mkdir -p "$OUT"
for measured in "$DIR"/*.json; do
  "$COMET" validate --measured "$measured" ${CALIBRATION:+--calibration "$CALIBRATION"} -o "$OUT/$(basename "$measured")" >/dev/null
done
python3 scripts/accuracy_table.py "$OUT"/*.json
