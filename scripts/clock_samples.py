#!/usr/bin/env python3
"""GPU 0's SM clock and power while busy, from an nvidia-smi CSV sampled during a run.

  nvidia-smi --query-gpu=timestamp,index,clocks.sm,power.draw,clocks_event_reasons.sw_power_cap \
             --format=csv,noheader -lms 20 > samples.csv
  scripts/clock_samples.py samples.csv

Busy = drawing more than 350 W (the GEMM phases of a validation run on an H200). Prints the median
and 10th-percentile SM clock, the median power and how often the software power cap was active.
"""
import csv
import statistics
import sys


def number(text):
    try:
        return float(text.strip().split()[0])
    except (ValueError, IndexError):
        return None


def main():
    rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) >= 5 and r[1].strip() == "0"]
    busy = [(number(r[2]), number(r[3]), r[4].strip()) for r in rows if (number(r[3]) or 0) > 350]
    if not busy:
        print(f"samples {len(rows)}: none busy")
        return
    clocks = sorted(b[0] for b in busy if b[0] is not None)
    capped = sum(1 for b in busy if b[2] == "Active")
    print(f"samples {len(rows)} busy {len(busy)}: SM clock median {statistics.median(clocks):.0f} MHz "
          f"(p10 {clocks[len(clocks) // 10]:.0f}), power median {statistics.median(b[1] for b in busy):.0f} W, "
          f"software power cap active in {100 * capped / len(busy):.0f}%")


if __name__ == "__main__":
    main()
