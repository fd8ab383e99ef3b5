#!/usr/bin/env python3
"""The K loop of every wgmma kernel in a binary, from its SASS (cuobjdump -sass): how many
instructions one K block costs each consumer warp, and how many of them are R2UR (a per-thread
register moved to a uniform one) or WARPSYNC.

Why: the fused kernels run CUTLASS's mainloop unchanged, but code around it decides whether nvcc
compiles it with uniform registers. A branch on threadIdx.x or on an elected lane in code that the
consumer warps run between tiles made the fused kernels' K loop 72 instructions against CUTLASS's
own grouped kernel's 53, with 16 R2UR and a WARPSYNC per K block: 26% more instructions issued
over the whole kernel (ncu, one H100, stop 50). With --check this fails when any comet fused kernel
(`fused_kernel`) has a longer K loop than the longest of the plain CUTLASS kernels in the same
binary, or any R2UR in it.

  sass_k_loop.py [--cuobjdump PATH] [--check] BINARY...

Exit status: 0 (or the table alone without --check), 1 when --check fails, 2 on bad input, 77 when
no cuobjdump is found (ctest: skipped).
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys

SKIP = 77
INSTRUCTION = re.compile(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);")
BRANCH = re.compile(r"\bBRA (?:\S+ )?0x([0-9a-f]+)")


def kernels(sass):
    """[(name, [(address, instruction)])] of a cuobjdump -sass listing, in listing order."""
    out = []
    for part in sass.split("Function : ")[1:]:
        name, _, body = part.partition("\n")
        out.append((name.strip(), [(int(a, 16), s.strip()) for a, s in INSTRUCTION.findall(body)]))
    return out


def k_loop(instructions):
    """The instructions of the smallest loop (a backward branch and its target) holding an HGMMA,
    or None: the consumer warps' K loop of a wgmma mainloop."""
    index = {address: i for i, (address, _) in enumerate(instructions)}
    best = None
    for j, (address, text) in enumerate(instructions):
        branch = BRANCH.search(text)
        if not branch:
            continue
        target = int(branch.group(1), 16)
        if target > address or target not in index:
            continue
        body = [t for _, t in instructions[index[target]:j + 1]]
        if any(t.startswith("HGMMA") or " HGMMA" in t for t in body) and (best is None or len(body) < len(best)):
            best = body
    return best


def loop_rows(sass):
    """One dict per kernel that has a K loop: name, fused (a comet fused kernel), instructions,
    r2ur, warpsync, hgmma."""
    rows = []
    for name, instructions in kernels(sass):
        body = k_loop(instructions)
        if body is None:
            continue
        rows.append({"name": name, "fused": "fused_kernel" in name, "instructions": len(body),
                     "r2ur": sum("R2UR" in t for t in body), "warpsync": sum("WARPSYNC" in t for t in body),
                     "hgmma": sum("HGMMA" in t for t in body)})
    return rows


def verdict(rows):
    """Failures of the check, as sentences (empty: passed)."""
    plain = [r["instructions"] for r in rows if not r["fused"]]
    fused = [r for r in rows if r["fused"]]
    if not plain or not fused:
        return [f"expected plain CUTLASS and fused kernels with K loops, found {len(plain)} and {len(fused)}"]
    bound = max(plain)
    failures = []
    for r in fused:
        if r["instructions"] > bound or r["r2ur"]:
            failures.append(f"{r['name'][:60]}...: K loop of {r['instructions']} instructions ({r['r2ur']} R2UR, {r['warpsync']} WARPSYNC); "
                            f"the plain CUTLASS kernels' longest is {bound} with no R2UR")
    return failures


def main(argv):
    parser = argparse.ArgumentParser(prog="sass_k_loop", description=__doc__.split("\n\n")[0])
    parser.add_argument("binaries", nargs="+", type=pathlib.Path, metavar="BINARY")
    parser.add_argument("--cuobjdump", help="cuobjdump to use (default: from PATH)")
    parser.add_argument("--check", action="store_true", help="fail when a fused kernel's K loop is longer than CUTLASS's own")
    args = parser.parse_args(argv)
    tool = args.cuobjdump or shutil.which("cuobjdump")
    if not tool or not pathlib.Path(tool).exists():
        print("sass_k_loop: skipped: no cuobjdump (scripts/setup.sh fetches one into .deps/cuda-tools when CUDA is here)")
        return SKIP
    rows = []
    for binary in args.binaries:
        if not binary.is_file():
            print(f"sass_k_loop: {binary}: no such file", file=sys.stderr)
            return 2
        # cuobjdump runs nvdisasm: the one beside it first (setup.sh puts both in .deps/cuda-tools/bin).
        env = dict(os.environ, PATH=os.pathsep.join([str(pathlib.Path(tool).parent), os.environ.get("PATH", "")]))
        listing = subprocess.run([tool, "-sass", str(binary)], capture_output=True, text=True, env=env)
        if listing.returncode != 0:
            print(f"sass_k_loop: {tool} -sass {binary}: {listing.stderr.strip()}", file=sys.stderr)
            return 2
        rows += loop_rows(listing.stdout)
    print("# K loop per wgmma kernel: instructions per K block and consumer warp")
    print(f"{'kernel':70s} {'instr':>6s} {'R2UR':>5s} {'WARPSYNC':>8s} {'HGMMA':>6s}")
    for r in rows:
        print(f"{r['name'][:70]:70s} {r['instructions']:6d} {r['r2ur']:5d} {r['warpsync']:8d} {r['hgmma']:6d}")
    if not args.check:
        return 0
    failures = verdict(rows)
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
