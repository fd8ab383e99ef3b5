// All-to-all-v over NCCL point-to-point: one ncclGroupStart/End around a send and a receive per
// peer, so NCCL runs them together. Sizes are in bytes; zero-sized pieces are skipped on both
// sides (both ranks know the sizes, so the pairing stays consistent).
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdint>

namespace comet::kernels {

/// Sends send_bytes[p] bytes from send + send_offsets[p] to rank p and receives recv_bytes[p]
/// bytes from rank p into recv + recv_offsets[p], for every rank p of `comm` (num_ranks of
/// them). Offsets and sizes are host arrays; buffers are device memory on this rank's GPU.
/// The piece to this rank itself is copied with cudaMemcpyAsync when `copy_self`.
ncclResult_t all_to_all_v(const void* send, const std::int64_t* send_offsets, const std::int64_t* send_bytes, void* recv,
                          const std::int64_t* recv_offsets, const std::int64_t* recv_bytes, int num_ranks, int rank,
                          bool copy_self, ncclComm_t comm, cudaStream_t stream);

/// The config of a communicator whose kernels take at most `max_ctas` SMs (ncclConfig_t maxCTAs,
/// minCTAs no higher; 0 = NCCL's choice): the knob of `comet validate --comm-ctas`.
ncclConfig_t communicator_config(int max_ctas);

/// The reference of the benchmarks: every rank sends `bytes_per_peer` to every other rank,
/// as nccl-tests' alltoall does (piece p at offset p * bytes_per_peer).
ncclResult_t all_to_all(const void* send, void* recv, std::int64_t bytes_per_peer, int num_ranks, ncclComm_t comm,
                        cudaStream_t stream);

}  // namespace comet::kernels
