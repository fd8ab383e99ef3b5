// The GPU's global timer (%globaltimer, nanoseconds, the same clock on every SM): what the fused
// kernels' transfer blocks stamp their spans with, and how a host places those stamps on its CUDA
// events' time line (a stamp enqueued right after an event).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace comet::kernels {

/// When the transfer blocks of one fused launch ran, %globaltimer nanoseconds: the first block's
/// start and the last block's end (both 0 when no transfer block ran).
struct TransferSpan {
  std::uint64_t start_ns = 0, end_ns = 0;
  bool ran() const { return end_ns > start_ns; }
};

/// Enqueues one thread that writes %globaltimer into *out (device memory) when it runs.
cudaError_t stamp_global_timer(unsigned long long* out, cudaStream_t stream);

#ifdef __CUDACC__
/// %globaltimer now, nanoseconds (device code).
__device__ __forceinline__ std::uint64_t global_timer_ns() {
  std::uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
#endif

}  // namespace comet::kernels
