#!/usr/bin/env python3
"""comet's expert GEMM kernels against PyTorch's torch._grouped_mm in one process, on the same
tensors, timed in the same rounds: the comparison issue 15's bar asks for (">= torch._grouped_mm
for DeepSeek-V3 shapes"), without the difference in method between two processes.

  scripts/grouped_mm_vs_comet.py [--lib [LABEL=]PATH ...] [--kinds LIST] [--rounds N] [--band-tiles B] [--json FILE]
                                 NAME:EXPERTS:ROWS_PER_EXPERT:K:N [...]

For each shape: A [EXPERTS x ROWS, K] and B [EXPERTS, N, K] in bf16, B passed to torch transposed
(the layout torch's grouped kernel is fastest with, grouped_mm_reference.py's) and to comet as
stored W^T. comet's kernels come from its C API (kernels/comet_gemm_c.h, built as
build/kernels/libcomet_gemm_c.so), loaded with ctypes; with several --lib (builds of comet to
compare, each LABEL=PATH), every library's kernels are timed in the same rounds, named KIND@LABEL:
  grouped   the expert FFN's CUTLASS grouped GEMM;
  dispatch  the fused dispatch kernel's GEMM part, every row already here;
  combine   the fused combine kernel's GEMM part, the output left here.
Numerics first: each output, poisoned (NaN) before its run, against an fp32 product of the same
bf16 operands expert by expert (relative L2; bf16 results land near 1e-3, the bar is 1e-2).
Then --rounds rounds (default 30) in which every variant is timed once by CUDA events around one
call, the first round in the listed order, each later one shuffled (seeded by its number), after
3 warm-up calls each; torch is timed twice per round ("torch*": the noise floor, METHOD.md's
"time the same version twice"). Per variant: the median time, its rate, and vs_torch, the
quartiles over rounds of torch's time over its own in the same round (paired_ratio.hpp's
definition): above 100% is faster than torch.

Exit codes: 0 all checked and timed; 1 a kernel's output failed the numerics; 2 bad arguments;
3 no PyTorch, no CUDA GPU, no torch._grouped_mm, or comet's library missing or unable to run here.
"""
import argparse
import contextlib
import ctypes
import json
import math
import pathlib
import random
import statistics
import sys

from grouped_mm_reference import cuda_torch, parse

KINDS = {"grouped": 0, "dispatch": 1, "combine": 2}  # comet_gemm_kind
DEFAULT_LIB = pathlib.Path(__file__).resolve().parent.parent / "build" / "kernels" / "libcomet_gemm_c.so"
WARMUP = 3
REL_L2_BAR = 1e-2


def quantile(values, q):
    """Quantile q in [0, 1] by linear interpolation between order statistics (paired_ratio.hpp)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    below = int(at)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (at - below) * (ordered[above] - ordered[below])


def paired_quartiles(numerator, denominator):
    """Quartiles over rounds of numerator[r] / denominator[r] (both times: the denominator's rate
    over the numerator's)."""
    if len(numerator) != len(denominator):
        raise ValueError("paired_quartiles: the two variants have different round counts")
    if any(not d > 0 for d in denominator):
        raise ValueError("paired_quartiles: a denominator is not positive")
    ratios = [n / d for n, d in zip(numerator, denominator)]
    return tuple(quantile(ratios, q) for q in (0.25, 0.5, 0.75))


def round_orders(variants, rounds):
    """The order of the variants' indices in each round: the listed order first, then shuffled
    with each round's number as the seed (the same every run)."""
    orders = []
    for r in range(rounds):
        order = list(range(variants))
        if r > 0:
            random.Random(r).shuffle(order)
        orders.append(order)
    return orders


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="grouped_mm_vs_comet", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("shapes", nargs="+", metavar="NAME:EXPERTS:ROWS_PER_EXPERT:K:N")
    parser.add_argument("--lib", action="append", metavar="[LABEL=]PATH",
                        help=f"comet's C API library, repeatable to compare builds (default {DEFAULT_LIB})")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds, at least 4 (default 30)")
    parser.add_argument("--band-tiles", type=int, default=0, help="the fused kernels' M tiles per band, 0: whole experts (default 0)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comet's kernels to time, of {','.join(KINDS)} (default all)")
    parser.add_argument("--json", type=pathlib.Path, help="also write every row here")
    args = parser.parse_args(argv)
    if args.rounds < 4:
        parser.error(f"--rounds {args.rounds}: expected at least 4 (quartiles of fewer say little)")
    if args.band_tiles < 0:
        parser.error(f"--band-tiles {args.band_tiles}: expected >= 0")
    try:
        args.shapes = [parse(s) for s in args.shapes]
    except ValueError as error:
        parser.error(str(error))
    args.kinds = [kind for kind in args.kinds.split(",") if kind]
    unknown = [kind for kind in args.kinds if kind not in KINDS]
    if unknown or not args.kinds:
        parser.error(f"--kinds {','.join(unknown) or '(none)'}: expected some of {','.join(KINDS)}")
    args.libs = library_labels(args.lib or [str(DEFAULT_LIB)], parser)
    return args


def library_labels(specs, parser):
    """[(label, path)] of the --lib options: LABEL=PATH, or PATH alone (label "" for one library;
    with several, each needs a distinct label)."""
    libs = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = "", spec
        if not path:
            parser.error(f"--lib {spec}: expected [LABEL=]PATH")
        libs.append((label, pathlib.Path(path)))
    labels = [label for label, _ in libs]
    if len(libs) > 1 and ("" in labels or len(set(labels)) != len(labels)):
        parser.error(f"--lib: several libraries need distinct labels (LABEL=PATH), got {', '.join(specs)}")
    return libs


def load_library(path):
    """comet's C API through ctypes, or None with the reason printed."""
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        print(f"grouped_mm_vs_comet: cannot load {path}: {error} (build the target comet_gemm_c, or pass --lib)", file=sys.stderr)
        return None
    lib.comet_gemm_create.restype = ctypes.c_void_p
    lib.comet_gemm_create.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_int64, ctypes.c_int64,
                                      ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.comet_gemm_run.restype = ctypes.c_int
    lib.comet_gemm_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.comet_gemm_destroy.restype = None
    lib.comet_gemm_destroy.argtypes = [ctypes.c_void_p]
    lib.comet_gemm_last_error.restype = ctypes.c_char_p
    lib.comet_gemm_last_error.argtypes = []
    return lib


class CometKernel:
    """One of comet's kernels prepared over the shape's tensors; run() enqueues it on torch's
    current stream."""

    def __init__(self, torch, lib, kind, rows, k, n, a, b_nk, out, band_tiles):
        self.torch, self.lib = torch, lib
        counts = (ctypes.c_int64 * len(rows))(*rows)
        self.handle = lib.comet_gemm_create(KINDS[kind], len(rows), counts, k, n, a.data_ptr(), b_nk.data_ptr(), out.data_ptr(), 1, band_tiles)
        if not self.handle:
            raise RuntimeError(lib.comet_gemm_last_error().decode())

    def run(self):
        status = self.lib.comet_gemm_run(self.handle, ctypes.c_void_p(self.torch.cuda.current_stream().cuda_stream))
        if status:
            raise RuntimeError(self.lib.comet_gemm_last_error().decode())

    def close(self):
        self.lib.comet_gemm_destroy(self.handle)
        self.handle = None


@contextlib.contextmanager
def shape_calls(torch, lib, experts, rows, k, n):
    """{"torch": torch._grouped_mm's call, kind: comet's kernel's call for every kind} over one set
    of random tensors of the shape (every expert `rows` rows), for the benchmarks that run them
    (benchmarks/fused-variants/); the kernels are destroyed on leaving."""
    a = torch.randn(experts * rows, k, device="cuda", dtype=torch.bfloat16) * 0.05
    b_nk = torch.randn(experts, n, k, device="cuda", dtype=torch.bfloat16) * 0.05
    offsets = torch.arange(1, experts + 1, device="cuda", dtype=torch.int32) * rows
    out = torch.empty(experts * rows, n, device="cuda", dtype=torch.bfloat16)
    kernels = {}
    try:
        for kind in KINDS:
            kernels[kind] = CometKernel(torch, lib, kind, [rows] * experts, k, n, a, b_nk, out, 0)
        calls = {"torch": lambda: torch._grouped_mm(a, b_nk.transpose(-2, -1), offs=offsets)}
        calls.update({kind: kernel.run for kind, kernel in kernels.items()})
        yield calls
    finally:
        for kernel in kernels.values():
            kernel.close()


def relative_l2(torch, out, a, b_nk, experts, rows):
    """||out - A_e B_e|| / ||A_e B_e|| over all experts, the reference in fp32 from the same bf16
    operands (expert by expert: the whole product in fp32 would not fit beside the operands); NaN
    when any output is not finite."""
    if not bool(torch.isfinite(out).all()):
        return math.nan
    diff = norm = 0.0
    for e in range(experts):
        ref = a[e * rows:(e + 1) * rows].float() @ b_nk[e].float().t()
        diff += float((out[e * rows:(e + 1) * rows].float() - ref).square().sum())
        norm += float(ref.square().sum())
    return math.sqrt(diff / norm) if norm > 0 else (0.0 if diff == 0 else 1.0)


def time_rounds(torch, calls, rounds):
    """samples[variant][round] in ms: every call timed by CUDA events once per round."""
    for call in calls:
        for _ in range(WARMUP):
            call()
    samples = [[] for _ in calls]
    for order in round_orders(len(calls), rounds):
        for v in order:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            calls[v]()
            end.record()
            end.synchronize()
            samples[v].append(start.elapsed_time(end))
    return samples


def kernel_name(kind, label):
    """A comet kernel's name in the table: its kind, and with several libraries the library's label."""
    return f"{kind}@{label}" if label else kind


def measure_shape(torch, libs, shape, args):
    """The shape's rows (dicts), or raises RuntimeError when a kernel cannot be prepared or run.
    libs: [(label, ctypes library)]."""
    name, experts, rows, k, n = shape
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(experts * rows, k, device="cuda", dtype=torch.bfloat16) * 0.05
    b_nk = torch.randn(experts, n, k, device="cuda", dtype=torch.bfloat16) * 0.05  # W^T stored per expert
    b = b_nk.transpose(-2, -1)
    offsets = torch.arange(1, experts + 1, device="cuda", dtype=torch.int32) * rows
    out = torch.empty(experts * rows, n, device="cuda", dtype=torch.bfloat16)  # every comet kernel's, one at a time
    kernels = {}
    try:
        for label, lib in libs:
            for kind in args.kinds:
                kernels[kernel_name(kind, label)] = CometKernel(torch, lib, kind, [rows] * experts, k, n, a, b_nk, out, args.band_tiles)
        errors = {"torch": relative_l2(torch, torch._grouped_mm(a, b, offs=offsets), a, b_nk, experts, rows)}
        for kernel_label, kernel in kernels.items():
            out.fill_(math.nan)
            kernel.run()
            torch.cuda.synchronize()
            errors[kernel_label] = relative_l2(torch, out, a, b_nk, experts, rows)
        torch_call = lambda: torch._grouped_mm(a, b, offs=offsets)  # noqa: E731
        names = ["torch"] + list(kernels) + ["torch*"]
        samples = time_rounds(torch, [torch_call] + [kernel.run for kernel in kernels.values()] + [torch_call], args.rounds)
    finally:
        for kernel in kernels.values():
            kernel.close()
    flops = 2.0 * experts * rows * k * n
    result = []
    for variant, times in zip(names, samples):
        ms = statistics.median(times)
        q1, med, q3 = paired_quartiles(samples[0], times)
        result.append({"model": name, "experts": experts, "rows_per_expert": rows, "k": k, "n": n, "kernel": variant, "ms": ms,
                       "tflops": flops / ms * 1e-9, "vs_torch_q1": 100 * q1, "vs_torch": 100 * med, "vs_torch_q3": 100 * q3,
                       "rel_l2": errors.get(variant.rstrip("*"), math.nan)})
    return result


def print_table(torch, rows, args):
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name()}; comet's kernels from "
          + ", ".join(f"{label}={path}" if label else str(path) for label, path in args.libs))
    print(f"# {args.rounds} interleaved rounds (the first in the listed order, the others shuffled), one CUDA-event-timed call per "
          f"variant a round, medians; B stored [n, k] per expert; fused kernels' bands: {args.band_tiles or 'whole experts'}")
    print("# vs_torch: torch._grouped_mm's time over this kernel's, paired by round (quartiles); torch*: torch timed a second "
          "time in each round; rel_l2 against fp32 products of the same bf16 operands")
    print(f"{'model':<12} {'experts':>7} {'rows/e':>6} {'K':>6} {'N':>6} {'kernel':<14} {'time':>8} {'rate':>8} {'q1':>6} {'vs_torch':>8} "
          f"{'q3':>6} {'rel_l2':>9}")
    print(f"{'#':<12} {'':>7} {'':>6} {'':>6} {'':>6} {'':<14} {'ms':>8} {'TFLOP/s':>8} {'%':>6} {'%':>8} {'%':>6} {'':>9}")
    for r in rows:
        print(f"{r['model']:<12} {r['experts']:>7} {r['rows_per_expert']:>6} {r['k']:>6} {r['n']:>6} {r['kernel']:<14} {r['ms']:>8.3f} "
              f"{r['tflops']:>8.1f} {r['vs_torch_q1']:>6.1f} {r['vs_torch']:>8.1f} {r['vs_torch_q3']:>6.1f} {r['rel_l2']:>9.2e}")


def main(argv):
    args = parse_args(argv)
    torch = cuda_torch("grouped_mm_vs_comet")
    if torch is None:
        return 3
    if not hasattr(torch, "_grouped_mm"):
        print("grouped_mm_vs_comet: needs torch._grouped_mm", file=sys.stderr)
        return 3
    libs = [(label, load_library(path)) for label, path in args.libs]
    if any(lib is None for _, lib in libs):
        return 3
    rows = []
    for shape in args.shapes:
        try:
            rows += measure_shape(torch, libs, shape, args)
        except RuntimeError as error:
            print(f"grouped_mm_vs_comet: {shape[0]} {shape[1:]}: {error}", file=sys.stderr)
            return 3
        torch.cuda.empty_cache()
    print_table(torch, rows, args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    failed = [r for r in rows if not r["rel_l2"] <= REL_L2_BAR and not r["kernel"].startswith("torch")]
    for r in failed:
        print(f"grouped_mm_vs_comet: {r['model']} K {r['k']} N {r['n']}: {r['kernel']}'s output is off: relative L2 {r['rel_l2']:.3e} "
              f"(bar {REL_L2_BAR:.0e})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
