#!/usr/bin/env python3
"""Which kernels cuBLAS (through torch.matmul, one call per expert) and torch._grouped_mm launch on
the expert shapes comet_gpu_bench's fused section measures, and how long each takes: the tile,
cluster and schedule a library picked, read from its kernel's name, for comet's CUTLASS
configurations to be held against.

  scripts/gemm_kernel_names.py NAME:EXPERTS:ROWS_PER_EXPERT:K:N [...]

For each shape and each library: 5 warm-up calls, then 10 calls under torch.profiler; one line per
kernel name (calls, mean device time in microseconds). Also prints the cuBLAS library PyTorch
loaded (it may differ from the one comet links). Exits 2 on a malformed shape, 3 without PyTorch
or a CUDA GPU.
"""
import sys

from grouped_mm_reference import shapes_and_torch


def loaded_cublas():
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            return sorted({line.split()[-1] for line in maps if "libcublas" in line})
    except OSError:
        return []


def profile(torch, call):
    from torch.profiler import ProfilerActivity, profile as run_profiled
    for _ in range(5):
        call()
    torch.cuda.synchronize()
    with run_profiled(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(10):
            call()
        torch.cuda.synchronize()
    kernels = {}
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            calls, total = kernels.get(event.name, (0, 0.0))
            kernels[event.name] = (calls + 1, total + event.device_time)
    return kernels


def main(argv):
    shapes, torch, code = shapes_and_torch(argv, "gemm_kernel_names", __doc__)
    if code:
        return code
    torch.ones(1, device="cuda") @ torch.ones(1, 1, device="cuda")  # loads cuBLAS
    print(f"# torch {torch.__version__} on {torch.cuda.get_device_name()}; cuBLAS loaded: {', '.join(loaded_cublas()) or 'unknown'}")
    print("# shape library calls mean_us kernel")
    for name, experts, rows, k, n in shapes:
        a = torch.randn(experts * rows, k, device="cuda", dtype=torch.bfloat16) * 0.05
        b_kn = torch.randn(experts, k, n, device="cuda", dtype=torch.bfloat16) * 0.05
        b_nk = b_kn.transpose(-2, -1).contiguous().transpose(-2, -1)  # [k, n] view of [n, k] storage
        offsets = torch.arange(1, experts + 1, device="cuda", dtype=torch.int32) * rows
        chunks = a.split(rows)
        shape = f"{name}:{experts}:{rows}:{k}:{n}"
        libraries = {
            "cublas[k,n]": lambda: [x @ w for x, w in zip(chunks, b_kn)],
            "cublas[n,k]": lambda: [x @ w for x, w in zip(chunks, b_nk)],
        }
        if hasattr(torch, "_grouped_mm"):
            libraries["grouped_mm[n,k]"] = lambda: torch._grouped_mm(a, b_nk, offs=offsets)
        for library, call in libraries.items():
            for kernel, (calls, total_us) in sorted(profile(torch, call).items(), key=lambda item: -item[1][1]):
                print(f"{shape} {library} {calls} {total_us / calls:.1f} {kernel}")
        del a, b_kn, b_nk
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
