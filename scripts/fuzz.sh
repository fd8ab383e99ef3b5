#!/usr/bin/env bash
# Fuzzes every input loader with libFuzzer under ASan + UBSan (clang), for a bounded time each:
#   scripts/fuzz.sh [SECONDS_PER_LOADER]          # default 10; CI runs it through ctest (label fuzz)
# Builds build-fuzz/ (COMET_FUZZ=ON: the loaders and harnesses only), seeds each corpus from the
# shipped files and tests/fuzz/<loader>/ (the suite's bad inputs and every crash found so far,
# replayed first as regressions), then fuzzes. A finding leaves crash-* in build-fuzz/findings/
# and fails; copy it into tests/fuzz/<loader>/ once fixed. Exit 77 (skipped) without clang.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_LOADER=${1:-10}
BUILD=${COMET_FUZZ_BUILD_DIR:-build-fuzz}
if ! command -v clang++ >/dev/null; then echo "fuzz: no clang++: skipped"; exit 77; fi

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCOMET_FUZZ=ON -DCOMET_WITH_SIMGRID=OFF -DCOMET_WITH_CUDA=OFF -DCOMET_WITH_MPI=OFF -DCOMET_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 >/dev/null

seed() {  # seed <loader> <files...>: copies into the loader's working corpus
  local dir=$BUILD/corpus/$1; shift
  mkdir -p "$dir"
  for f in "$@"; do [[ -f $f ]] && cp "$f" "$dir/$(echo "$f" | tr '/' '_')"; done
  return 0
}
seed yaml_files scenarios/*.yaml topologies/*.yaml tests/data/*.yaml tests/fuzz/yaml_files/*
seed calibration calibrations/*.yaml tests/fuzz/calibration/*
seed trace_csv tests/fuzz/trace_csv/*
seed timeline_json tests/fuzz/timeline_json/*
seed units tests/fuzz/units/*

status=0
mkdir -p "$BUILD/findings"
for loader in yaml_files calibration trace_csv timeline_json units; do
  harness=$BUILD/${loader}_fuzzer
  # Regressions first: every file kept under tests/fuzz/<loader>/ must pass.
  if compgen -G "tests/fuzz/$loader/*" >/dev/null; then
    "$harness" -runs=0 tests/fuzz/$loader/* >"$BUILD/findings/$loader-regressions.log" 2>&1 ||
      { echo "fuzz: $loader: a regression file fails (see $BUILD/findings/$loader-regressions.log)"; status=1; }
  fi
  if "$harness" -max_total_time="$SECONDS_PER_LOADER" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
       -artifact_prefix="$BUILD/findings/$loader-" "$BUILD/corpus/$loader" >"$BUILD/findings/$loader.log" 2>&1; then
    echo "fuzz: $loader: $(grep -o 'Done [0-9]* runs' "$BUILD/findings/$loader.log" | tail -1) in ${SECONDS_PER_LOADER} s, no finding"
  else
    echo "fuzz: $loader: FINDING (log $BUILD/findings/$loader.log):"
    grep -E "ERROR|SUMMARY|loader threw|runtime error|Test unit written" "$BUILD/findings/$loader.log" | head -8
    status=1
  fi
done
exit $status
