#include "all_to_all_v.hpp"

namespace comet::kernels {

ncclConfig_t communicator_config(int max_ctas) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  if (max_ctas > 0) {
    config.maxCTAs = max_ctas;
    config.minCTAs = max_ctas < 2 ? max_ctas : 2;
  }
  return config;
}

ncclResult_t all_to_all_v(const void* send, const std::int64_t* send_offsets, const std::int64_t* send_bytes, void* recv,
                          const std::int64_t* recv_offsets, const std::int64_t* recv_bytes, int num_ranks, int rank,
                          bool copy_self, ncclComm_t comm, cudaStream_t stream) {
  const auto* in = static_cast<const char*>(send);
  auto* out = static_cast<char*>(recv);
  if (copy_self && send_bytes[rank] > 0) {
    if (send_bytes[rank] != recv_bytes[rank]) return ncclInvalidArgument;
    if (cudaMemcpyAsync(out + recv_offsets[rank], in + send_offsets[rank], static_cast<std::size_t>(send_bytes[rank]),
                        cudaMemcpyDeviceToDevice, stream) != cudaSuccess)
      return ncclUnhandledCudaError;
  }
  ncclResult_t result = ncclGroupStart();
  for (int p = 0; p < num_ranks && result == ncclSuccess; ++p) {
    if (p == rank) continue;
    if (send_bytes[p] > 0)
      result = ncclSend(in + send_offsets[p], static_cast<std::size_t>(send_bytes[p]), ncclUint8, p, comm, stream);
    if (result == ncclSuccess && recv_bytes[p] > 0)
      result = ncclRecv(out + recv_offsets[p], static_cast<std::size_t>(recv_bytes[p]), ncclUint8, p, comm, stream);
  }
  const ncclResult_t ended = ncclGroupEnd();
  return result != ncclSuccess ? result : ended;
}

ncclResult_t all_to_all(const void* send, void* recv, std::int64_t bytes_per_peer, int num_ranks, ncclComm_t comm,
                        cudaStream_t stream) {
  const auto* in = static_cast<const char*>(send);
  auto* out = static_cast<char*>(recv);
  const auto count = static_cast<std::size_t>(bytes_per_peer);
  ncclResult_t result = ncclGroupStart();
  for (int p = 0; p < num_ranks && result == ncclSuccess; ++p) {
    result = ncclSend(in + p * bytes_per_peer, count, ncclUint8, p, comm, stream);
    if (result == ncclSuccess) result = ncclRecv(out + p * bytes_per_peer, count, ncclUint8, p, comm, stream);
  }
  const ncclResult_t ended = ncclGroupEnd();
  return result != ncclSuccess ? result : ended;
}

}  // namespace comet::kernels
