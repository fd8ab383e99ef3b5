#!/usr/bin/env python3
"""Each kernel of scripts/grouped_mm_vs_comet.py run back to back for a while, with the SM clock
and the board power sampled beside it (nvidia-smi): the time per call, the clock and the power
each kernel settles at under sustained load.

Why: in the harness's rounds (kernel_times.py: shuffled kernels, a synchronisation after each
call) the fused kernels were 2.3-2.8% slower than torch._grouped_mm on the DeepSeek-V3 16K combine
shape, while ncu timed them alone in fewer cycles. Back to back, every kernel runs at the board's
power cap, and the clock each holds there tells energy per call apart from cycles per call (stop
51, one H100: the fused kernels held 1410 MHz against torch's 1365 at the 700 W cap and were 0.7-1.2%
ahead of it; BENCHMARKS.md).

  sustained_clocks.py LIBRARY SECONDS NAME:EXPERTS:ROWS_PER_EXPERT:K:N ...

Per shape and kernel (torch, then comet's kinds, in order and then in reverse, SECONDS each after a
second's warm-up): calls, ms per call (events around the whole run), median SM clock (MHz) and
power (W) of the samples taken during the run, and their product (Mcycles/call); after each pass,
vs_torch: torch's ms per call over each kernel's, in that pass. The product is
an estimate of SM cycles only for a kernel bound by its SMs: nvidia-smi samples a clock that the
power cap moves faster than every 50 ms, and a kernel bound by memory takes about the same time at
a lower clock.
"""
import math
import pathlib
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
import grouped_mm_vs_comet as harness  # noqa: E402

SAMPLE_MS = 50


def medians_between(samples, start, end):
    """(median SM MHz, median W) of the (host seconds, MHz, W) samples taken from start to end,
    both included; (NaN, NaN) when none was taken then (a run shorter than the sampling period)."""
    chosen = [(clock, power) for t, clock, power in samples if start <= t <= end]
    if not chosen:
        return float("nan"), float("nan")
    return statistics.median(c for c, _ in chosen), statistics.median(p for _, p in chosen)


def vs_torch(ms_per_call):
    """{kernel: torch's ms per call over the kernel's, %} of one pass's {kernel: ms per call}."""
    return {name: 100.0 * ms_per_call["torch"] / ms for name, ms in ms_per_call.items() if name != "torch"}


class Sampler:
    """nvidia-smi's SM clock and power every SAMPLE_MS ms, with the host time of each sample."""

    def __init__(self):
        self.samples = []  # (host seconds, SM MHz, W)
        self.process = subprocess.Popen(["nvidia-smi", "--query-gpu=clocks.sm,power.draw", "--format=csv,noheader,nounits",
                                         f"-lms={SAMPLE_MS}", "-i", "0"], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.process.stdout:
            try:
                clock, power = (float(x) for x in line.split(","))
            except ValueError:
                continue  # "[N/A]" or a header
            self.samples.append((time.monotonic(), clock, power))

    def between(self, start, end):
        return medians_between(list(self.samples), start, end)

    def close(self):
        self.process.terminate()
        self.process.wait()


def run_for(torch, call, seconds):
    """(calls, ms per call) of `call` enqueued back to back for about `seconds`."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    calls, began = 0, time.monotonic()
    start.record()
    while time.monotonic() - began < seconds:
        for _ in range(8):  # enqueue in batches: the GPU never waits for the host
            call()
        calls += 8
        if calls % 64 == 0:  # keep the launch queue short, so that `seconds` is GPU time
            torch.cuda.current_stream().synchronize()
    end.record()
    end.synchronize()
    return calls, start.elapsed_time(end) / calls


def usage_error(message):
    print(f"sustained_clocks: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv):
    if len(argv) < 3:
        usage_error("expected LIBRARY SECONDS NAME:EXPERTS:ROWS_PER_EXPERT:K:N ...")
    try:
        seconds, shapes = float(argv[1]), [harness.parse(spec) for spec in argv[2:]]
    except ValueError as error:
        usage_error(f"{error} (SECONDS a number, shapes NAME:EXPERTS:ROWS_PER_EXPERT:K:N)")
    if not (math.isfinite(seconds) and seconds > 0):
        usage_error(f"SECONDS {argv[1]}: expected a finite number > 0")
    import torch
    lib = harness.load_library(argv[0])
    if lib is None:
        sys.exit(2)
    sampler = Sampler()
    try:
        for spec, (_, experts, rows, k, n) in zip(argv[2:], shapes):
            print(f"# {spec} on {torch.cuda.get_device_name()}: each call back to back for {seconds:g} s, nvidia-smi every {SAMPLE_MS} ms")
            print(f"{'pass':4s} {'kernel':10s} {'calls':>6s} {'ms/call':>9s} {'SM MHz':>7s} {'W':>6s} {'Mcycles/call':>12s}")
            with harness.shape_calls(torch, lib, experts, rows, k, n) as calls:
                # Forward, then backward: the board warms over a run, so a kernel late in one pass
                # is early in the other.
                for number, order in enumerate((list(calls), list(reversed(calls))), start=1):
                    ms_per_call = {}
                    for name in order:
                        run_for(torch, calls[name], 1.0)  # warm-up: the clock settles
                        began = time.monotonic()
                        count, ms = run_for(torch, calls[name], seconds)
                        clock, power = sampler.between(began, time.monotonic())
                        # ms x MHz: the SM cycles a call takes at the median clock
                        print(f"{number:<4d} {name:10s} {count:6d} {ms:9.4f} {clock:7.0f} {power:6.1f} {ms * clock / 1e3:12.3f}",
                              flush=True)
                        ms_per_call[name] = ms
                    ratios = "  ".join(f"{name} {ratio:.1f}%" for name, ratio in vs_torch(ms_per_call).items())
                    print(f"# pass {number} vs_torch (torch's ms per call over the kernel's): {ratios}", flush=True)
    finally:
        sampler.close()


if __name__ == "__main__":
    main(sys.argv[1:])
