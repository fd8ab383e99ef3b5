// The routed experts of one GPU: SwiGLU FFNs over ragged, expert-major token rows, on cuBLAS
// (bf16 inputs, fp32 accumulation). Rows [first[e], first[e] + count[e]) belong to local expert e
// (ExpertRows; the ranges need not be adjacent).
// All matrices are row-major; weights of expert e: w13[e] is [hidden, 2*ffn] (gate and up side
// by side), w2[e] is [ffn, hidden]. Empty experts are skipped (zero rows are legal).
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "expert_lanes.hpp"

namespace comet::kernels {

/// Where each local expert's rows are in the row-major buffers. Adjacent ranges (one chunk's own
/// buffers) come from offsets; a chunk inside a layer-wide buffer has gaps between its experts.
struct ExpertRows {
  std::vector<std::int64_t> first, count;  ///< per local expert
  int experts() const { return static_cast<int>(first.size()); }
  /// Expert e owns [offsets[e], offsets[e + 1]).
  static ExpertRows from_offsets(const std::vector<std::int64_t>& offsets);
};

struct ExpertFfnShape {
  int hidden = 0;  ///< H
  int ffn = 0;     ///< F
};

/// Every function below runs one GEMM per expert and projection on `handle`, or, given `lanes`,
/// spreads the experts over them (forked from `stream` and joined back: the work still starts
/// and ends in `stream`'s order).
///
/// Forward: h13 = x w13, act = swiglu(h13), y = act w2, per expert, on `stream`.
///   rows: each expert's rows; x [rows, H]; h13 [rows, 2F] and act [rows, F]
///   are kept for the backward; y [rows, H]. Pointers are device memory.
cublasStatus_t expert_ffn_forward(cublasHandle_t handle, ExpertFfnShape shape, const ExpertRows& rows, const __nv_bfloat16* x, const __nv_bfloat16* const* w13,
                                  const __nv_bfloat16* const* w2, __nv_bfloat16* h13, __nv_bfloat16* act,
                                  __nv_bfloat16* y, cudaStream_t stream, ExpertLanes* lanes = nullptr);

/// Buffers of the backward pass (device): d_act [rows, F] (scratch of the data gradient) and d_h13
/// [rows, 2F] (written by the data gradient, read by the weight gradient).
struct ExpertFfnGrads {
  __nv_bfloat16* d_act = nullptr;
  __nv_bfloat16* d_h13 = nullptr;
  __nv_bfloat16* dx = nullptr;                 ///< [rows, H] input gradient
  __nv_bfloat16* const* d_w13 = nullptr;       ///< per expert [H, 2F] weight gradient
  __nv_bfloat16* const* d_w2 = nullptr;        ///< per expert [F, H] weight gradient
};

/// Backward, data gradient: d_act, d_h13 (kept for the weight gradient) and dx, from dy [rows, H]
/// and the forward's h13.
cublasStatus_t expert_ffn_backward_data(cublasHandle_t handle, ExpertFfnShape shape, const ExpertRows& rows, const __nv_bfloat16* dy, const __nv_bfloat16* h13,
                                        const __nv_bfloat16* const* w13, const __nv_bfloat16* const* w2,
                                        const ExpertFfnGrads& grads, cudaStream_t stream, ExpertLanes* lanes = nullptr);

/// Backward, weight gradient (accumulated: d_w += ...), from dy, the forward's x and act, and the
/// d_h13 of expert_ffn_backward_data. Nothing in the layer waits for it, so it can run while the
/// input gradients travel.
cublasStatus_t expert_ffn_backward_weights(cublasHandle_t handle, ExpertFfnShape shape, const ExpertRows& rows, const __nv_bfloat16* dy, const __nv_bfloat16* x,
                                           const __nv_bfloat16* act, const ExpertFfnGrads& grads, cudaStream_t stream,
                                           ExpertLanes* lanes = nullptr);

/// Both halves: data gradient, then weight gradient.
cublasStatus_t expert_ffn_backward(cublasHandle_t handle, ExpertFfnShape shape, const ExpertRows& rows, const __nv_bfloat16* dy, const __nv_bfloat16* x,
                                   const __nv_bfloat16* h13, const __nv_bfloat16* act, const __nv_bfloat16* const* w13,
                                   const __nv_bfloat16* const* w2, const ExpertFfnGrads& grads, cudaStream_t stream,
                                   ExpertLanes* lanes = nullptr);

/// One row-major bf16 GEMM, C[m, n] = op(A) op(B) (+ C when accumulate), fp32 accumulation.
/// A is [m, k] (or [k, m] when transpose_a), B is [k, n] (or [n, k] when transpose_b).
cublasStatus_t gemm_bf16(cublasHandle_t handle, bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
                         std::int64_t k, const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c,
                         bool accumulate);

}  // namespace comet::kernels
