#!/usr/bin/env python3
"""PyTorch's grouped GEMM (torch._grouped_mm) on the expert shapes comet_gpu_bench's fused section
measures: the reference its GEMM part is held to for many small experts (DeepSeek-V3).

  scripts/grouped_mm_reference.py NAME:EXPERTS:ROWS_PER_EXPERT:K:N [...]

For each shape: A [EXPERTS x ROWS, K] and B [EXPERTS, K, N] in bf16 (B stored N x K per expert and
transposed, the layout the kernel is fastest with), one torch._grouped_mm over the row offsets;
median of 20 CUDA-event-timed calls after 5 warm-ups. Prints one line per shape (ms, TFLOP/s)
and exits 2 on a malformed shape, 3 when PyTorch or its grouped GEMM is missing.
"""
import statistics
import sys


def parse(spec):
    parts = spec.split(":")
    if len(parts) != 5:
        raise ValueError(f"shape '{spec}': expected NAME:EXPERTS:ROWS_PER_EXPERT:K:N")
    name, *numbers = parts
    try:
        experts, rows, k, n = (int(x) for x in numbers)
    except ValueError:
        raise ValueError(f"shape '{spec}': EXPERTS, ROWS_PER_EXPERT, K and N must be integers") from None
    if min(experts, rows, k, n) <= 0:
        raise ValueError(f"shape '{spec}': every size must be positive")
    return name, experts, rows, k, n


def time_ms(torch, call):
    for _ in range(5):
        call()
    samples = []
    for _ in range(20):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        call()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end))
    return statistics.median(samples)


def shapes_and_torch(argv, program, doc):
    """The shapes named on the command line and the torch module, or the exit code that says why
    not: 2 for a malformed or missing shape (the message, or `doc`, on stderr), 3 without PyTorch or
    a CUDA GPU. Shared by the scripts that time or profile these shapes."""
    try:
        shapes = [parse(s) for s in argv[1:]]
    except ValueError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return None, None, 2
    if not shapes:
        print(doc, file=sys.stderr)
        return None, None, 2
    torch = cuda_torch(program)
    return (shapes, torch, 0) if torch else (None, None, 3)


def cuda_torch(program):
    """The torch module when PyTorch is installed and sees a CUDA GPU; else None, with the reason on
    stderr (the scripts then exit 3)."""
    try:
        import torch
    except ImportError:
        print(f"{program}: PyTorch is not installed", file=sys.stderr)
        return None
    if not torch.cuda.is_available():
        print(f"{program}: needs a CUDA GPU", file=sys.stderr)
        return None
    return torch


def main(argv):
    shapes, torch, code = shapes_and_torch(argv, "grouped_mm_reference", __doc__)
    if code:
        return code
    if not hasattr(torch, "_grouped_mm"):
        print("grouped_mm_reference: needs torch._grouped_mm", file=sys.stderr)
        return 3
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name()}: torch._grouped_mm, bf16, median of 20")
    print(f"{'model':<14} {'experts':>7} {'rows/e':>7} {'K':>6} {'N':>6} {'time':>9} {'rate':>8}")
    print(f"{'#':<14} {'':>7} {'':>7} {'':>6} {'':>6} {'ms':>9} {'TFLOP/s':>8}")
    for name, experts, rows, k, n in shapes:
        a = torch.randn(experts * rows, k, device="cuda", dtype=torch.bfloat16) * 0.05
        b = (torch.randn(experts, n, k, device="cuda", dtype=torch.bfloat16) * 0.05).transpose(-2, -1)
        offsets = torch.arange(1, experts + 1, device="cuda", dtype=torch.int32) * rows
        ms = time_ms(torch, lambda: torch._grouped_mm(a, b, offs=offsets))
        flops = 2.0 * experts * rows * k * n
        print(f"{name:<14} {experts:>7} {rows:>7} {k:>6} {n:>6} {ms:>9.3f} {flops / ms * 1e-9:>8.1f}")
        del a, b
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
