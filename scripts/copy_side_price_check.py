#!/usr/bin/env python3
"""The simulator's price of `comet:B`'s copy side against the one-GPU fused bench, on any machine.

Reads `comet_gpu_bench --sections fused` logs (every dispatch section of each, so runs appended to
one log all count) and prices each dispatch overlap row of the default kernel the way the
simulator prices a fused stage-0 launch, from the log's own measurements: T = the kernel's GEMM
part on every SM (the GEMM table's `fused`, or the row's own tile band's from the run's band table
when the run timed several), t = the copies alone at that block count (`alone`),
s = (SMS - B) / SMS. The GEMM's own time (sim/core/op_costs.cpp, compute_time_s):
  joining (rows `blk/<band>` of logs since stop 44, which have `X` rows beside): min(T / s,
           T + t x B / SMS): the copy blocks' SMs are missing only while they copy, then they join
           the GEMM;
  stopping (rows `blk/<band>X`: copy blocks that stop after their copies, and every row of an
           older log): T / s, the price before stop 44.
The launch, as the streaming dependency ends it: max(the GEMM's time, t + its tail), the tail being
the last rows' M tile, its N tiles side by side, a tile time each round of them (streaming_tail_s:
GEMM time / waves x ceil(min(N tiles, tiles) / SMs it has), 128 x 256 tiles).
Prints each row's measured launch time, both prices and their errors, and the median |error| of
each price over the rows it is meant for (joining over joining rows, stopping over stopping rows).

  scripts/copy_side_price_check.py LOG [LOG ...]
"""
import argparse
import math
import re
import statistics
import sys

from streaming_tail_check import SMS, TILE_M, TILE_N, band_gemm_ms, check_logs_readable, kernel_gemm_ms


def runs_of(lines):
    """The log's bench runs, each a list of its lines from a dispatch section's title to the next
    one (the run's combine section and band table included)."""
    runs = []
    for line in lines:
        if line.startswith("# Fused dispatch"):
            runs.append([])
        if runs:
            runs[-1].append(line)
    return runs


def dispatch_lines(lines):
    """The lines of every dispatch section among `lines` (each from its title to the next section's)."""
    inside = False
    for line in lines:
        if line.startswith("# Fused"):
            inside = line.startswith("# Fused dispatch")
        if inside:
            yield line


def joining_ms(gemm_ms, copies_ms, blocks):
    """The copy side's price with copy blocks that join the GEMM once their copies are done."""
    share = (SMS - blocks) / SMS
    return min(gemm_ms / share, gemm_ms + copies_ms * blocks / SMS)


def stopping_ms(gemm_ms, blocks):
    """The copy side's price with copy blocks that hold their SMs to the end (the GEMM on the others)."""
    return gemm_ms * SMS / (SMS - blocks)


def launch_ms(gemm_ms, copies_ms, blocks, tiles, n_tiles):
    """The launch's end: its GEMM's time, or its copies' end and then the last rows' tiles."""
    waves = math.ceil(tiles / (SMS - blocks))
    tail_ms = gemm_ms / waves * math.ceil(min(n_tiles, tiles) / (SMS - blocks))
    return max(gemm_ms, copies_ms + tail_ms)


def rows_of(path):
    """(model, tokens, tasks, blocks, fused ms, joining price ms, stopping price ms, joins) per overlap row."""
    out = []
    text = open(path, encoding="utf-8").read()
    # Logs from before stop 44 have no `X` rows: their copy blocks all stopped, `blk/<band>` too.
    joining_kernels = "X: the transfer blocks stop" in text
    for run in runs_of(text.splitlines()):
        gemm = {}  # (model, tokens) -> (the GEMM table's GEMM part ms, tiles, N tiles)
        bands = band_gemm_ms(run, "dispatch")
        for line in dispatch_lines(run):
            f = line.split()
            if len(f) == 13 and f[2].isdigit() and f[3].isdigit():  # the GEMM table
                n_tiles = math.ceil(int(f[5]) / TILE_N)
                gemm[(f[0], f[1])] = (float(f[6]), math.ceil(int(f[3]) / TILE_M) * int(f[2]) * n_tiles, n_tiles)
            elif len(f) == 13 and re.fullmatch(r"blk/\d+X?", f[4]) and f[6] != "-" and (f[0], f[1]) in gemm:
                blocks, copies_ms, fused_ms = int(f[5]), float(f[6]), float(f[8])
                table_ms, tiles, n_tiles = gemm[(f[0], f[1])]
                t = kernel_gemm_ms(table_ms, bands, f[0], f[1], f[4])
                join = launch_ms(joining_ms(t, copies_ms, blocks), copies_ms, blocks, tiles, n_tiles)
                stop = launch_ms(stopping_ms(t, blocks), copies_ms, blocks, tiles, n_tiles)
                out.append((f[0], f[1], f[4], blocks, fused_ms, join, stop, joining_kernels and not f[4].endswith("X")))
    return out


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], usage="%(prog)s LOG [LOG ...]")
    parser.add_argument("logs", nargs="+", help="comet_gpu_bench --sections fused logs")
    args = parser.parse_args(argv)
    check_logs_readable(parser, args.logs)
    errors = {"joining": [], "stopping": []}
    print(f"{'log':<24} {'model':<13} {'tokens':>6} {'tasks':>7} {'B':>3} {'fused':>8} {'joining':>8} {'err':>6} {'stopping':>8} {'err':>6}")
    print(f"{'#':<24} {'':<13} {'':>6} {'':>7} {'':>3} {'ms':>8} {'ms':>8} {'%':>6} {'ms':>8} {'%':>6}")
    for path in args.logs:
        for model, tokens, tasks, blocks, fused, join, stop, joins in rows_of(path):
            err_join, err_stop = 100.0 * (join - fused) / fused, 100.0 * (stop - fused) / fused
            errors["joining" if joins else "stopping"].append(abs(err_join if joins else err_stop))
            print(f"{path.split('/')[-1][:24]:<24} {model:<13} {tokens:>6} {tasks:>7} {blocks:>3} {fused:8.3f} "
                  f"{join:8.3f} {err_join:+6.1f} {stop:8.3f} {err_stop:+6.1f}")
    for price, v in errors.items():
        if v:
            print(f"# {price} price on its rows: median |error| {statistics.median(v):.1f}%, max {max(v):.1f}% over {len(v)} rows")


if __name__ == "__main__":
    main(sys.argv[1:])
