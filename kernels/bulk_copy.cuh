// Hopper's bulk copies (the TMA unit moving contiguous bytes, no tensor map) and the shared-memory
// barrier that counts their bytes in: what a transfer block uses to move rows without holding them
// in registers (fused_launch.cuh, TransferList::bulk). Device code, sm_90 only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace comet::kernels::bulk {

__device__ __forceinline__ unsigned shared_address(const void* p) { return static_cast<unsigned>(__cvta_generic_to_shared(p)); }

/// One thread: a barrier that completes a phase on one arrival and its expected bytes.
__device__ __forceinline__ void barrier_init(std::uint64_t* bar) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(shared_address(bar)) : "memory");
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");  // visible to the TMA unit
}

/// One thread: arrives on `bar` and expects `bytes` more to land in this phase.
__device__ __forceinline__ void barrier_expect(std::uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes) : "memory");
}

/// Waits until `bar`'s phase of parity `parity` has completed.
__device__ __forceinline__ void barrier_wait(std::uint64_t* bar, unsigned parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n"
      "}\n" ::"r"(shared_address(bar)),
      "r"(parity)
      : "memory");
}

/// `bytes` (a multiple of 16, both addresses 16-byte aligned) from global memory into this block's
/// shared memory, counted on `bar` when they land.
__device__ __forceinline__ void load(void* shared, const void* global, unsigned bytes, std::uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(shared_address(shared)),
               "l"(global), "r"(bytes), "r"(shared_address(bar))
               : "memory");
}

/// `bytes` from this block's shared memory to global memory, in this thread's current bulk group.
__device__ __forceinline__ void store(void* global, const void* shared, unsigned bytes) {
  asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;" ::"l"(global), "r"(shared_address(shared)), "r"(bytes)
               : "memory");
}

/// Closes this thread's current bulk group.
__device__ __forceinline__ void commit() { asm volatile("cp.async.bulk.commit_group;" ::: "memory"); }

/// Until at most N of this thread's bulk groups still read their shared memory.
template <int N>
__device__ __forceinline__ void wait_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;" ::"n"(N) : "memory");
}

/// Until every bulk group of this thread has completed (its writes performed).
__device__ __forceinline__ void wait_all() { asm volatile("cp.async.bulk.wait_group 0;" ::: "memory"); }

}  // namespace comet::kernels::bulk
