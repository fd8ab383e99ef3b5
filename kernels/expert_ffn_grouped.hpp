// The expert FFN of expert_ffn.hpp with each projection one grouped GEMM launch over all local
// experts (grouped_gemm.hpp) instead of one cuBLAS GEMM per expert: same buffers, same layout,
// same results up to the order of fp32 accumulation.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "expert_ffn.hpp"
#include "grouped_gemm.hpp"

namespace comet::kernels {

/// Forward: h13 = x w13, act = swiglu(h13), y = act w2 (as expert_ffn_forward), on `stream`.
/// `sm_count` limits the GEMMs' persistent grid (0: every SM).
cudaError_t expert_ffn_forward_grouped(GroupedGemm& gemm, ExpertFfnShape shape, const ExpertRows& rows,
                                       const __nv_bfloat16* x, const __nv_bfloat16* const* w13,
                                       const __nv_bfloat16* const* w2, __nv_bfloat16* h13, __nv_bfloat16* act,
                                       __nv_bfloat16* y, cudaStream_t stream, int sm_count = 0);

/// Backward, data gradient (as expert_ffn_backward_data): d_act = dy w2^T, d_h13 =
/// swiglu'(h13) d_act, dx = d_h13 w13^T.
cudaError_t expert_ffn_backward_data_grouped(GroupedGemm& gemm, ExpertFfnShape shape, const ExpertRows& rows,
                                             const __nv_bfloat16* dy, const __nv_bfloat16* h13,
                                             const __nv_bfloat16* const* w13, const __nv_bfloat16* const* w2,
                                             const ExpertFfnGrads& grads, cudaStream_t stream, int sm_count = 0);

/// Backward, weight gradient (as expert_ffn_backward_weights, accumulated: d_w += ...):
/// d_w2 += act^T dy and d_w13 += x^T d_h13, one grouped launch each.
cudaError_t expert_ffn_backward_weights_grouped(GroupedGemm& gemm, ExpertFfnShape shape, const ExpertRows& rows,
                                                const __nv_bfloat16* dy, const __nv_bfloat16* x, const __nv_bfloat16* act,
                                                const ExpertFfnGrads& grads, cudaStream_t stream, int sm_count = 0);

}  // namespace comet::kernels
