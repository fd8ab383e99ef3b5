#!/usr/bin/env python3
"""GPU 0's SM clock and power from an nvidia-smi CSV sampled during a run.

  nvidia-smi --query-gpu=timestamp,index,clocks.sm,power.draw,clocks_event_reasons.sw_power_cap \
             --format=csv,noheader -lms 20 > samples.csv
  scripts/clock_samples.py samples.csv               # the busy samples of the whole run
  scripts/clock_samples.py samples.csv bench.log     # per `# window NAME START END` line of the log

Without a log, busy = drawing more than 350 W (the GEMM phases of a validation run on an H200).
With one, the samples taken between each window's start and end (wall-clock seconds since the
epoch, as comet_gpu_bench's interference section prints them). Prints the median and
10th-percentile SM clock, the median power and how often the software power cap was active.
"""
import csv
import datetime
import statistics
import sys


def number(text):
    try:
        return float(text.strip().split()[0])
    except (ValueError, IndexError):
        return None


def epoch_seconds(stamp):
    """nvidia-smi's local-time timestamp (2026/11/28 11:30:01.123) as seconds since the epoch."""
    try:
        return datetime.datetime.strptime(stamp.strip(), "%Y/%m/%d %H:%M:%S.%f").timestamp()
    except ValueError:
        return None


def summary(samples):
    if not samples:
        return "no samples"
    clocks = sorted(s["clock"] for s in samples if s["clock"] is not None)
    power = [s["power"] for s in samples if s["power"] is not None]
    capped = sum(1 for s in samples if s["cap"] == "Active")
    return (f"{len(samples)} samples: SM clock median {statistics.median(clocks):.0f} MHz "
            f"(p10 {clocks[len(clocks) // 10]:.0f}), power median {statistics.median(power):.0f} W, "
            f"software power cap active in {100 * capped / len(samples):.0f}%")


def windows(log_path):
    for line in open(log_path):
        parts = line.split()
        if len(parts) >= 5 and parts[:2] == ["#", "window"]:
            yield " ".join(parts[2:-2]), float(parts[-2]), float(parts[-1])


def main():
    samples = [{"time": epoch_seconds(r[0]), "clock": number(r[2]), "power": number(r[3]), "cap": r[4].strip()}
               for r in csv.reader(open(sys.argv[1])) if len(r) >= 5 and r[1].strip() == "0"]
    if len(sys.argv) < 3:
        busy = [s for s in samples if (s["power"] or 0) > 350]
        print(f"samples {len(samples)} busy: {summary(busy)}")
        return
    for name, start, end in windows(sys.argv[2]):
        inside = [s for s in samples if s["time"] is not None and start <= s["time"] <= end]
        print(f"{name:<28} {summary(inside)}")


if __name__ == "__main__":
    main()
