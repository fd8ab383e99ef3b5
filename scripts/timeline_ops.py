#!/usr/bin/env python3
"""One policy's measured ops on one GPU, from the JSON of `comet validate ... -o FILE`.

  scripts/timeline_ops.py FILE POLICY [GPU]

Prints every op of GPU (default 0) and of its group's all-to-alls in start order (kind,
direction, phase, chunk, start, end, duration in ms), then the expert GEMMs' summed duration per
direction and the weight gradient's: what docs/validation.md and BENCHMARKS.md quote as "where
the time goes".
"""
import json
import sys


def main():
    path, policy = sys.argv[1], sys.argv[2]
    gpu = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    report = next((p for p in json.load(open(path))["policies"] if p["partition"] == policy), None)
    if report is None:
        sys.exit(f"timeline_ops.py: no policy {policy} in {path}")
    ops = sorted((o for o in report["timeline"]["ops"] if o["gpu"] in (gpu, -1)), key=lambda o: o["start_s"])
    print(f"# {policy}: layer {report['layer_time_s'] * 1e3:.2f} ms, GPU {gpu}")
    print(f"{'kind':<14} {'dir':<9} {'phase':<14} {'chunk':>5} {'start':>9} {'end':>9} {'ms':>7}")
    expert = {"forward": 0.0, "backward": 0.0, "wgrad": 0.0}
    for o in ops:
        ms = (o["end_s"] - o["start_s"]) * 1e3
        print(f"{o['kind']:<14} {o['direction']:<9} {o['phase']:<14} {o['chunk']:>5} {o['start_s'] * 1e3:>9.2f} "
              f"{o['end_s'] * 1e3:>9.2f} {ms:>7.2f}")
        if o["kind"] == "expert_gemm":
            expert[o["direction"]] += ms
        elif o["kind"] == "expert_wgrad":
            expert["wgrad"] += ms
    print(f"# expert GEMMs: forward {expert['forward']:.2f} ms, data gradient {expert['backward']:.2f} ms, "
          f"weight gradient {expert['wgrad']:.2f} ms")


if __name__ == "__main__":
    main()
