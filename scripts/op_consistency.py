#!/usr/bin/env python3
"""Is an op's time a function of its size alone? From `comet calibrate --runs` JSON files: the
expert ops of equal flops (uniform routing: equal M per expert) measured inside Plans of
different token loads and chunk counts, side by side, with the spread (max/min - 1) per size.
A clock that depends on how long the GPU has been busy shows as a spread that grows with load.
    scripts/op_consistency.py RUNS.json... [--kinds expert_gemm,expert_wgrad]"""
import argparse
import collections
import json
import math
import statistics


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--kinds", default="expert_gemm")
    args = parser.parse_args()
    kinds = set(args.kinds.split(","))
    spreads = []
    for path in args.files:
        with open(path) as f:
            doc = json.load(f)
        groups = collections.defaultdict(lambda: collections.defaultdict(list))
        for run in doc["runs"]:
            for op in run["timeline"]["ops"]:
                if op["kind"] not in kinds:
                    continue
                # Sizes within 1% are one size (chunks of a load differ by a row or two).
                key = (run["origin"], op["kind"], op["direction"], round(math.log(op["flops"]) / math.log(1.01)))
                groups[key][(run["tokens_per_gpu"], run["chunks"])].append((op["end_s"] - op["start_s"]) * 1e3)
        print(f"# {path}: per op size, median ms per (tokens/GPU x chunks); spread = max/min - 1")
        for key in sorted(groups):
            cells = {k: statistics.median(v) for k, v in groups[key].items()}
            if len(cells) < 2:
                continue
            spread = max(cells.values()) / min(cells.values()) - 1
            spreads.append(spread)
            text = "  ".join(f"{t}x{c}: {ms:.3f}" for (t, c), ms in sorted(cells.items()))
            gflop = 1.01 ** key[3] / 1e9
            print(f"{key[0]:<28} {key[1]:<12} {key[2]:<8} {gflop:>10.1f} GFLOP  spread {spread * 100:5.1f}%  {text}")
    if spreads:
        print(f"# sizes measured in 2+ Plans: {len(spreads)}, median spread {statistics.median(spreads) * 100:.1f}%, "
              f"max {max(spreads) * 100:.1f}%")


if __name__ == "__main__":
    main()
