#!/usr/bin/env python3
"""The streaming tail of `comet:B`'s combine against the one-GPU fused bench, on any machine.

Reads `comet_gpu_bench --sections fused` logs and, for every combine row of the default kernel
(`blk/<band>` and `wrp/<band>`, no order or store suffix), prices the fused launch the way the
simulator's streaming dependency does (sim/core/op_costs.cpp, docs/policies.md): the GEMM on the
SMs the send blocks leave, its all-to-all ending at max(its bytes alone, the GEMM's end + tail).
Measured inputs: the kernel's GEMM alone on every SM (its own tile band's, from the run's band
table, when the run timed several) and the sends alone at that block count, so what is checked is
the tail, not the cost model's rates. Two tails:
  tile: one M tile of rows, 128 x hidden bf16 (the simulator until stop 39);
  wave: the rows of the GEMM's last wave of tiles, one tile per SM (since stop 39): 128 x 256,
        main's, or the tile a log's preamble states (`fused tile 128 x 128`: branch fused-pingpong).
Each over the send blocks' own rate (the rows the sends move alone over their time, per block).
Two more prices, of what the simulator does not model, to see whether they would pay:
  +head: `wave`, and the all-to-all cannot end before its bytes' time plus the GEMM's first wave
         (no row leaves before that wave ends);
  wgemm: `wave` with the GEMM priced by its waves, ceil(tiles / SMs left) over ceil(tiles / all
         SMs), instead of linearly in the SMs.
  shared: `+head`, and while the GEMM runs each send block moves only BESIDE (--beside, default
         0.8) of its best rate alone (the highest per-block rate of its task kind at any block
         count of the same log and shape), never more than their own rate alone at this count
         (which the link already caps); after the GEMM they go on at their rate alone.
Prints one row per log row and the median |error| of each price.

  scripts/streaming_tail_check.py [--beside R] LOG [LOG ...]
"""
import argparse
import math
import os
import re
import statistics
import sys

SMS = 132            # the H100 / H200 SXM the bench ran on
TILE_M, TILE_N = 128, 256  # main's fused kernels; logs that state no tile
BF16 = 2


def band_gemm_ms(lines, side):
    """(model, tokens, band) -> the GEMM part (ms) of each tile band in the band table among `lines`
    (`# GEMM part by tile band`, printed after a bench run's sections), rows of `side` only."""
    out = {}
    for line in lines:
        f = line.split()
        if len(f) == 8 and f[0] == side and f[2].isdigit() and f[3].isdigit():
            out[(f[1], f[2], f[3])] = float(f[4])
    return out


def kernel_gemm_ms(table_ms, bands, model, tokens, tasks):
    """The GEMM part to price an overlap row of `tasks` (`blk/16`, `wrp/0`, `blk/16X`) with: its own
    band's from the band table when the run timed it, else the GEMM table's (the run's first band)."""
    band = re.fullmatch(r"\w+/(\d+)X?", tasks)
    return bands.get((model, tokens, band.group(1)), table_ms) if band else table_ms


def combine_sections(lines):
    """The log's combine sections, each a list of its lines (from its title to the next section, the
    run's band table included): a log of several bench runs (one per shape, or the same shape
    again) has one per run."""
    sections = []
    for line in lines:
        if line.startswith("# Fused expert GEMM + combine"):
            sections.append([])
        elif line.startswith("# Fused"):
            sections.append(None)  # a section of another kind: no line goes to a combine section
        if sections and sections[-1] is not None:
            sections[-1].append(line)
    return [s for s in sections if s]


def shared_ms(sent, alone_ms, beside_rate, gemm_ms, head_ms, tail_bytes):
    """The sends' end (ms) when they move at beside_rate (bytes/s) from the GEMM's first wave to its
    end, the last wave's rows excepted, and at their rate alone after it."""
    rate = sent / (alone_ms * 1e-3)
    during = min(sent - tail_bytes, beside_rate * max(0.0, gemm_ms - head_ms) * 1e-3)
    return gemm_ms + (max(tail_bytes, sent - during) / rate) * 1e3


def check_logs_readable(parser, paths):
    """Exits 2 with the parser's usage on a log path that is not a readable file."""
    for path in paths:
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            parser.error(f"{path}: no such readable file (expected a comet_gpu_bench --sections fused log)")


def rows_of(path, beside):
    """Every default combine row of the log, priced; each run's rows against that run's GEMM."""
    lines = open(path, encoding="utf-8").read().splitlines()
    stated = re.search(r"fused tile (\d+) x (\d+)", "\n".join(lines))  # one binary per log
    tile = (int(stated.group(1)), int(stated.group(2))) if stated else (TILE_M, TILE_N)
    return [row for section in combine_sections(lines) for row in section_rows(path, section, tile, beside)]


def section_rows(path, section, tile, beside):
    """The priced rows of one combine section (one bench run)."""
    tile_m, tile_n = tile
    sources = int(re.search(r"(\d+) sources", section[0]).group(1))
    gemm = {}  # (model, tokens) -> (experts, rows/e, K, N, GEMM alone ms)
    bands = band_gemm_ms(section, "combine")
    out = []
    for line in section:
        f = line.split()
        if len(f) == 13 and f[2].isdigit() and f[3].isdigit():  # the GEMM table
            gemm[(f[0], f[1])] = (int(f[2]), int(f[3]), int(f[4]), int(f[5]), float(f[6]))
        elif len(f) == 13 and re.fullmatch(r"(blk|wrp)/\d+", f[4]) and f[6] != "-":  # the default kernel's overlap rows
            sent = float(f[2]) * 2**20 * sources / (sources - 1)  # bytes: the own rows are sent too
            alone_ms = float(f[6])
            out.append((f[0], f[1], f[4], int(f[5]), alone_ms, float(f[8]), sent, sent / (alone_ms * 1e-3)))
    best_block = {}  # (model, tokens, task kind) -> bytes/s per block
    for model, tokens, tasks, blocks, _, _, _, rate in out:
        kind = (model, tokens, tasks.split("/")[0])
        best_block[kind] = max(best_block.get(kind, 0.0), rate / blocks)
    priced = []
    for model, tokens, tasks, blocks, alone_ms, fused_ms, sent, rate in out:
        if (model, tokens) not in gemm:
            continue
        experts, rows_per_expert, _, hidden, table_ms = gemm[(model, tokens)]
        gemm_ms = kernel_gemm_ms(table_ms, bands, model, tokens, tasks)
        per_block = rate / blocks
        at_once = SMS - blocks
        n_tiles = math.ceil(hidden / tile_n)
        tiles = math.ceil(rows_per_expert / tile_m) * experts * n_tiles
        waves = math.ceil(tiles / at_once)
        last = tiles - (waves - 1) * at_once
        gemm_here = gemm_ms * SMS / at_once
        tails = {"tile": tile_m * hidden * BF16, "wave": last * tile_m * (hidden / n_tiles) * BF16}
        tail_ms = {k: b / (blocks * per_block) * 1e3 for k, b in tails.items()}
        predicted = {k: max(alone_ms, gemm_here + t) for k, t in tail_ms.items()}
        predicted["+head"] = max(alone_ms + gemm_here / waves, gemm_here + tail_ms["wave"])
        predicted["wgemm"] = max(alone_ms, gemm_ms * waves / math.ceil(tiles / SMS) + tail_ms["wave"])
        beside_rate = min(beside * blocks * best_block[(model, tokens, tasks.split("/")[0])], rate)
        predicted["shared"] = shared_ms(sent, alone_ms, beside_rate, gemm_here, gemm_here / waves, tails["wave"])
        priced.append((path, model, tokens, tasks, blocks, fused_ms, predicted))
    return priced


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], usage="%(prog)s [--beside R] LOG [LOG ...]")
    parser.add_argument("--beside", type=float, default=0.8,
                        help="share of a send block's best rate alone it keeps beside the GEMM (`shared`), in (0, 1]")
    parser.add_argument("logs", nargs="+", help="comet_gpu_bench --sections fused logs")
    args = parser.parse_args(argv)
    if not 0.0 < args.beside <= 1.0:
        parser.error(f"--beside {args.beside}: expected a share in (0, 1]")
    check_logs_readable(parser, args.logs)
    paths = args.logs
    prices = ("tile", "wave", "+head", "wgemm", "shared")
    errors = {k: [] for k in prices}
    print(f"{'log':<44} {'model':<13} {'tokens':>6} {'tasks':>6} {'B':>3} {'fused':>7}" + "".join(f" {k:>7} {'err':>6}" for k in prices))
    print(f"{'#':<44} {'':<13} {'':>6} {'':>6} {'':>3} {'ms':>7}" + "".join(f" {'ms':>7} {'%':>6}" for k in prices))
    for path in paths:
        for log, model, tokens, tasks, blocks, fused, predicted in rows_of(path, args.beside):
            err = {k: 100.0 * (v - fused) / fused for k, v in predicted.items()}
            for k in errors:
                errors[k].append(abs(err[k]))
            print(f"{log.split('/')[-1][:44]:<44} {model:<13} {tokens:>6} {tasks:>6} {blocks:>3} {fused:7.3f}"
                  + "".join(f" {predicted[k]:7.3f} {err[k]:+6.1f}" for k in prices))
    for k, v in errors.items():
        if v:
            print(f"# {k}: median |error| {statistics.median(v):.1f}%, max {max(v):.1f}% over {len(v)} rows")


if __name__ == "__main__":
    main(sys.argv[1:])
