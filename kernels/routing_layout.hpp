// Routing layout: from each token's top-k expert ids, how many token copies go to each expert
// and to each destination GPU (rank). These counts size the all-to-all-v and the expert GEMMs.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace comet::kernels {

/// Counts token copies per expert and per rank on `stream`.
///   topk_expert_ids  [num_tokens * top_k] expert id of each copy, row-major (device)
///   expert_to_rank   [num_experts] the rank hosting each expert (device)
///   tokens_per_expert[num_experts] out: copies per expert (device)
///   tokens_per_rank  [num_ranks]   out: copies per destination rank (device)
/// Ids outside [0, num_experts) are not counted; the caller compares the totals with
/// num_tokens * top_k to detect them. Zero tokens is legal (outputs become zeros).
/// Returns the launch status; results are ready when `stream` reaches this point.
cudaError_t routing_layout(const std::int32_t* topk_expert_ids, std::int64_t num_tokens, int top_k,
                           const std::int32_t* expert_to_rank, int num_experts, int num_ranks,
                           std::int32_t* tokens_per_expert, std::int32_t* tokens_per_rank,
                           cudaStream_t stream);

}  // namespace comet::kernels
