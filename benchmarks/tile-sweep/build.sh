#!/usr/bin/env bash
# Builds tile_sweep (sm_90a) from this folder into $1 (default build-tile-sweep/ at the repository root),
# one translation unit per tile configuration, two at a time. Needs nvcc, cuBLAS and CUTLASS 4.2's
# headers (.deps/cutlass-4.2.0/include, scripts/setup.sh). -DNDEBUG as in the Release build: CUTLASS's device
# asserts are calls, and a call in the main loop serializes its wgmma (ptxas C7510).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build-tile-sweep}
mkdir -p "$out"
flags=(-std=c++17 -O3 -DNDEBUG -arch=sm_90a --expt-relaxed-constexpr -DCOMET_HAVE_CUTLASS -I"$here" -I"$root/kernels" -I"$root/sim/core"
       -isystem "$root/.deps/cutlass-4.2.0/include")
for cu in "$here"/config_*.cu "$here"/tile_sweep.cu; do
  obj="$out/$(basename "$cu" .cu).o"
  [[ $obj -nt $cu && $obj -nt $here/tile_config.cuh ]] || { nvcc "${flags[@]}" -c "$cu" -o "$obj" & }
  while (( $(jobs -r | wc -l) >= ${JOBS:-2} )); do sleep 1; done
done
wait
nvcc -arch=sm_90a "$out"/*.o -lcublas -o "$out/tile_sweep"
echo "built $out/tile_sweep"
