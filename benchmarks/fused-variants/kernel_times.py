#!/usr/bin/env python3
"""The GPU time of each kernel inside scripts/grouped_mm_vs_comet.py's own rounds, from CUPTI
(torch.profiler; no replay, no serialisation), beside the CUDA-event times of the same rounds.

Why: ncu timed the fused kernels alone as the fastest of the four on the DeepSeek-V3 combine shape
(one H100, BENCHMARKS.md, stop 49), while the paired events of the harness put them 1-3% behind
torch._grouped_mm. The events also hold what each call enqueues before its kernel (the fused
kernels' three flag and claim memsets, torch's argument kernel) and the host's launch time on an
idle GPU. This prints both, per kernel name, so that the gap can be placed inside or outside the
kernels.

  kernel_times.py LIBRARY ROUNDS NAME:EXPERTS:ROWS_PER_EXPERT:K:N ...

Written at stop 49 and not yet run on a GPU (no device could be started after it was written).
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
import grouped_mm_vs_comet as harness  # noqa: E402


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    import torch
    lib, rounds = harness.load_library(argv[0]), int(argv[1])
    for spec in argv[2:]:
        _, experts, rows, k, n = harness.parse(spec)
        with harness.shape_calls(torch, lib, experts, rows, k, n) as calls:
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
                samples = harness.time_rounds(torch, list(calls.values()), rounds)
        print(f"# {spec} on {torch.cuda.get_device_name()}, {rounds} rounds (and the harness's warm-up runs)")
        for name, times in zip(calls, samples):
            print(f"events  {name:10s} median {statistics.median(times):9.4f} ms")
        # Kernel names of CUTLASS instantiations share long prefixes (torch's grouped GEMM and
        # comet's are both cutlass::device_kernel<GemmUniversal<...>>): a short id per name in
        # the table, the names in full below it.
        names = []
        for event in profile.key_averages():
            if event.device_time_total > 0:
                names.append(event.key)
                print(f"kernel  #{len(names) - 1:<2d} runs {event.count:4d} mean {event.device_time_total / event.count:10.1f} us  {event.key[:80]}")
        for i, name in enumerate(names):
            print(f"name    #{i:<2d} {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
