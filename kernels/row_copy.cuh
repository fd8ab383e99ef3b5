// How one thread of a transfer block (fused_launch.cuh) copies its share of a task's rows: a strip
// of 16-byte vectors, moved either through registers (TRANSFER_UNROLL loads in flight, then their
// stores) or staged through the thread's own slots of shared memory (cp.async: several batches of
// loads in flight while the thread stores older ones, and no registers hold them). Included only
// where CUTLASS is, with fused_launch.cuh.
#pragma once

#include <cuda_runtime.h>

namespace comet::kernels::fused_detail {

/// One thread's vectors of a copy: for i = first, first + step, ... while i < limit, the
/// vector at source + i x source_stride to dest + i x dest_stride (strides in 16-byte vectors).
/// Not a count: a 64-bit division is a call that made the fused kernel spill registers.
struct VectorStrip {
  const int4* source;
  int4* dest;
  long long source_stride, dest_stride, first, step, limit;
};

/// This thread's strip of `count` contiguous vectors copied by `threads` threads together: every
/// threads-th vector from its own index on (neighbouring threads, neighbouring vectors).
__device__ inline VectorStrip contiguous_strip(const int4* source, int4* dest, long long count, int thread, int threads) {
  return {source, dest, 1, 1, thread, threads, count};
}

/// This thread's strip of `rows` row pieces of `width` vectors (width <= threads): it keeps one
/// column and steps over rows, threads / width rows at a time (a thread past those rows: none).
__device__ inline VectorStrip row_piece_strip(const int4* source, int4* dest, long long rows, int width, long long source_stride,
                                              long long dest_stride, int thread, int threads) {
  const int rows_at_once = threads / width, first_row = thread / width, column = thread % width;
  return {source + column, dest + column, source_stride, dest_stride, first_row, rows_at_once, first_row < rows_at_once ? rows : 0};
}

// Loads in flight per thread on the register path: host-mapped memory over PCIe answers in
// microseconds, so each block keeps many requests outstanding (one H100: 4 blocks moved 42 GB/s
// with 8 per thread). More than 16 spill: the fused kernel has 168 registers per thread, sized
// for the GEMM.
constexpr int TRANSFER_UNROLL = 16;

/// The strip through registers: TRANSFER_UNROLL streaming loads, then their stores.
__device__ inline void copy_strip_by_registers(const VectorStrip& s) {
  for (long long base = s.first; base < s.limit; base += s.step * TRANSFER_UNROLL) {
    int4 v[TRANSFER_UNROLL];
#pragma unroll
    for (int u = 0; u < TRANSFER_UNROLL; ++u) {
      const long long i = base + u * s.step;
      if (i < s.limit) v[u] = __ldcs(s.source + i * s.source_stride);
    }
#pragma unroll
    for (int u = 0; u < TRANSFER_UNROLL; ++u) {
      const long long i = base + u * s.step;
      if (i < s.limit) s.dest[i * s.dest_stride] = v[u];
    }
  }
}

// The staged path: vectors per batch (one cp.async commit group each).
constexpr int STAGE_BATCH = 8;

/// Batches of STAGE_BATCH vectors a thread keeps in flight on the staged path, at most `most`:
/// as many as `shared_bytes` of shared memory hold for `threads` threads (0 when fewer than two).
constexpr int staged_batches(long long shared_bytes, int threads, int most = 4) {
  const long long fit = shared_bytes / (static_cast<long long>(threads) * STAGE_BATCH * static_cast<long long>(sizeof(int4)));
  return fit < 2 ? 0 : (fit < most ? static_cast<int>(fit) : most);
}

/// A thread's own slots of its block's shared memory: slot j at first[j x stride], stride the
/// block's threads (neighbouring threads, neighbouring 16 bytes: no bank conflicts). First null:
/// none (the register path).
struct StagingSlots {
  int4* first;
  int stride;
  __device__ int4* at(int slot) const { return first + slot * stride; }
};

__device__ inline void load_async_16(int4* shared_dest, const int4* global_source) {
  const unsigned dest = static_cast<unsigned>(__cvta_generic_to_shared(shared_dest));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dest), "l"(global_source) : "memory");
}
__device__ inline void commit_async_loads() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int PENDING>
__device__ inline void wait_async_loads() {
  asm volatile("cp.async.wait_group %0;" ::"n"(PENDING) : "memory");
}

/// The strip staged through `slots` (BATCHES x STAGE_BATCH of them): BATCHES - 1 batches of loads
/// ahead of the one being stored. A thread reads back only its own slots, so no barrier is
/// needed: cp.async.wait_group makes a batch visible to the thread that issued it, and a slot is
/// reloaded only after the store that read it was issued. Every load issued is waited for.
template <int BATCHES>
__device__ inline void copy_strip_staged(const VectorStrip& s, const StagingSlots& slots) {
  static_assert(BATCHES >= 2, "at least one batch in flight beside the one stored");
  const long long batch_step = s.step * STAGE_BATCH;
  // The batch from index `base` into ring batch `ring` (vectors past the limit: none), as one commit group.
  const auto load_batch = [&](long long base, int ring) {
#pragma unroll
    for (int u = 0; u < STAGE_BATCH; ++u) {
      const long long i = base + u * s.step;
      if (i < s.limit) load_async_16(slots.at(ring * STAGE_BATCH + u), s.source + i * s.source_stride);
    }
    commit_async_loads();
  };
#pragma unroll
  for (int b = 0; b < BATCHES - 1; ++b) load_batch(s.first + b * batch_step, b);
  int ring = 0;  // the ring batch of the batch stored next
  for (long long base = s.first; base < s.limit; base += batch_step) {
    load_batch(base + (BATCHES - 1) * batch_step, ring == 0 ? BATCHES - 1 : ring - 1);
    wait_async_loads<BATCHES - 1>();  // the batch at `base` is in
#pragma unroll
    for (int u = 0; u < STAGE_BATCH; ++u) {
      const long long i = base + u * s.step;
      if (i < s.limit) s.dest[i * s.dest_stride] = *slots.at(ring * STAGE_BATCH + u);
    }
    ring = ring == BATCHES - 1 ? 0 : ring + 1;
  }
}

/// The strip by the path asked for: staged when `slots` has any (BATCHES >= 2), else registers.
template <int BATCHES>
__device__ inline void copy_strip(const VectorStrip& s, const StagingSlots& slots) {
  if constexpr (BATCHES >= 2) {
    if (slots.first != nullptr) return copy_strip_staged<BATCHES>(s, slots);
  }
  copy_strip_by_registers(s);
}

}  // namespace comet::kernels::fused_detail
