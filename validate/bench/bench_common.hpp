// What every section of comet_gpu_bench shares: timing with CUDA events, random operands, and
// running one function per GPU on its own thread (as nccl-tests' thread launch does).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "device_buffer.hpp"

namespace comet::bench {

using bf16 = __nv_bfloat16;

/// Median over 5 samples of the mean seconds of `iters` calls of `work` on `stream`, after 3
/// untimed calls.
double time_s(const std::function<void()>& work, cudaStream_t stream, int iters);

/// Uniform random values in [-0.05, 0.05) (deterministic for a seed).
void fill(DeviceBuffer<bf16>& buffer, std::uint64_t seed);

/// Runs per_rank(rank) on one thread per GPU (rank = device index, 0 .. ranks-1), joins them, and
/// rethrows the first rank's error as a GpuError. A watchdog aborts every communicator when a
/// rank fails or none calls progress() for the watchdog's seconds (a peer blocked in NCCL then
/// returns); ranks still blocked 30 s later end the process with exit code 3.
void run_per_gpu(int ranks, const std::function<void(int rank)>& per_rank);

/// The watchdog's limit on time without progress, seconds (default 120).
void set_watchdog_seconds(double seconds);

/// A rank finished a timed sample: the watchdog's clock restarts (time_s calls it).
void progress();

/// A new NCCL communicator of `ranks` ranks for this thread's rank, known to the watchdog;
/// max_ctas > 0 limits the SMs its kernels take (ncclConfig_t maxCTAs), as `comet validate
/// --comm-ctas` does. Release it with leave_communicator().
ncclComm_t join_communicator(int rank, int ranks, const ncclUniqueId& id, int max_ctas);

/// Destroys a communicator of join_communicator() (nothing when the watchdog aborted it).
void leave_communicator(ncclComm_t comm);

}  // namespace comet::bench
