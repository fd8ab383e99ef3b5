#include "routing_layout.hpp"

namespace comet::kernels {
namespace {

constexpr int THREADS = 256;

// Each block builds a histogram in shared memory, then adds it to the global counts once per
// expert: far fewer global atomics than one per token copy when experts are few.
__global__ void count_copies(const std::int32_t* __restrict__ ids, std::int64_t num_copies,
                             const std::int32_t* __restrict__ expert_to_rank, int num_experts,
                             std::int32_t* __restrict__ per_expert, std::int32_t* __restrict__ per_rank) {
  extern __shared__ std::int32_t local[];  // [num_experts]
  for (int e = threadIdx.x; e < num_experts; e += blockDim.x) local[e] = 0;
  __syncthreads();
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < num_copies; i += stride) {
    const int expert = ids[i];
    if (expert >= 0 && expert < num_experts) atomicAdd(&local[expert], 1);
  }
  __syncthreads();
  for (int e = threadIdx.x; e < num_experts; e += blockDim.x) {
    const int count = local[e];
    if (count == 0) continue;
    atomicAdd(&per_expert[e], count);
    atomicAdd(&per_rank[expert_to_rank[e]], count);
  }
}

}  // namespace

cudaError_t routing_layout(const std::int32_t* topk_expert_ids, std::int64_t num_tokens, int top_k,
                           const std::int32_t* expert_to_rank, int num_experts, int num_ranks,
                           std::int32_t* tokens_per_expert, std::int32_t* tokens_per_rank,
                           cudaStream_t stream) {
  if (num_tokens < 0 || top_k < 1 || num_experts < 1 || num_ranks < 1) return cudaErrorInvalidValue;
  cudaError_t status = cudaMemsetAsync(tokens_per_expert, 0, sizeof(std::int32_t) * num_experts, stream);
  if (status == cudaSuccess) status = cudaMemsetAsync(tokens_per_rank, 0, sizeof(std::int32_t) * num_ranks, stream);
  if (status != cudaSuccess) return status;
  const std::int64_t copies = num_tokens * top_k;
  if (copies == 0) return cudaSuccess;
  const int blocks = static_cast<int>(std::min<std::int64_t>((copies + THREADS - 1) / THREADS, 1024));
  count_copies<<<blocks, THREADS, sizeof(std::int32_t) * num_experts, stream>>>(
      topk_expert_ids, copies, expert_to_rank, num_experts, tokens_per_expert, tokens_per_rank);
  return cudaGetLastError();
}

}  // namespace comet::kernels
