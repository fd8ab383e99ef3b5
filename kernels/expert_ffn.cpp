#include "expert_ffn.hpp"

#include "swiglu.hpp"

namespace comet::kernels {

// cuBLAS is column-major: a row-major C = A B is the column-major C^T = B^T A^T, so the
// operands swap places and m and n swap roles.
cublasStatus_t gemm_bf16(cublasHandle_t handle, bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n,
                         std::int64_t k, const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c,
                         bool accumulate) {
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const std::int64_t lda = transpose_a ? m : k, ldb = transpose_b ? k : n;
  return cublasGemmEx_64(handle, transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N, transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m,
                         k, &alpha, b, CUDA_R_16BF, ldb, a, CUDA_R_16BF, lda, &beta, c, CUDA_R_16BF, n,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

ExpertRows ExpertRows::from_offsets(const std::vector<std::int64_t>& offsets) {
  ExpertRows rows;
  for (std::size_t e = 0; e + 1 < offsets.size(); ++e) {
    rows.first.push_back(offsets[e]);
    rows.count.push_back(offsets[e + 1] - offsets[e]);
  }
  return rows;
}

namespace {

cublasStatus_t launch_status(cudaError_t error) {
  return error == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

// Where one expert's kernels go: its lane (stream + the handle bound to it) or the caller's.
struct ExpertTarget {
  cublasHandle_t handle;
  cudaStream_t stream;
};

// chain(target, first_row, rows, expert) for every expert with rows. With lanes, each expert's
// whole chain (GEMM, activation, GEMM) runs on its lane, and the lanes are forked from and joined
// back into `stream` once per call: no lane waits for another between the two projections (a
// join there cost a sync of all lanes per projection and chunk). `handle`, which runs the chains
// without lanes, is bound to `stream` here.
template <typename Chain>
cublasStatus_t per_expert(cublasHandle_t handle, ExpertLanes* lanes, cudaStream_t stream, const ExpertRows& expert_rows,
                          Chain chain) {
  cublasStatus_t status = cublasSetStream(handle, stream);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  if (lanes && lanes->fork(stream) != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
  for (int e = 0; e < expert_rows.experts() && status == CUBLAS_STATUS_SUCCESS; ++e) {
    if (expert_rows.count[e] == 0) continue;
    const ExpertTarget target = lanes ? ExpertTarget{lanes->handle_of(e), lanes->stream_of(e)} : ExpertTarget{handle, stream};
    status = chain(target, expert_rows.first[e], expert_rows.count[e], e);
  }
  if (lanes && lanes->join(stream) != cudaSuccess && status == CUBLAS_STATUS_SUCCESS) status = CUBLAS_STATUS_EXECUTION_FAILED;
  return status;
}

}  // namespace

cublasStatus_t expert_ffn_forward(cublasHandle_t handle, ExpertFfnShape shape, const ExpertRows& rows, const __nv_bfloat16* x, const __nv_bfloat16* const* w13,
                                  const __nv_bfloat16* const* w2, __nv_bfloat16* h13, __nv_bfloat16* act,
                                  __nv_bfloat16* y, cudaStream_t stream, ExpertLanes* lanes) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  return per_expert(handle, lanes, stream, rows, [&](ExpertTarget t, std::int64_t first, std::int64_t m, int e) {
    cublasStatus_t s = gemm_bf16(t.handle, false, false, m, 2 * f, h, x + first * h, w13[e], h13 + first * 2 * f, false);
    if (s == CUBLAS_STATUS_SUCCESS) s = launch_status(swiglu_forward(h13 + first * 2 * f, m, shape.ffn, act + first * f, t.stream));
    if (s == CUBLAS_STATUS_SUCCESS) s = gemm_bf16(t.handle, false, false, m, h, f, act + first * f, w2[e], y + first * h, false);
    return s;
  });
}

cublasStatus_t expert_ffn_backward_data(cublasHandle_t handle, ExpertFfnShape shape, const ExpertRows& rows, const __nv_bfloat16* dy, const __nv_bfloat16* h13,
                                        const __nv_bfloat16* const* w13, const __nv_bfloat16* const* w2,
                                        const ExpertFfnGrads& g, cudaStream_t stream, ExpertLanes* lanes) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  // d_act = dy w2^T; d_h13 = swiglu'(h13) d_act; dx = d_h13 w13^T.
  return per_expert(handle, lanes, stream, rows, [&](ExpertTarget t, std::int64_t first, std::int64_t m, int e) {
    cublasStatus_t s = gemm_bf16(t.handle, false, true, m, f, h, dy + first * h, w2[e], g.d_act + first * f, false);
    if (s == CUBLAS_STATUS_SUCCESS)
      s = launch_status(swiglu_backward(h13 + first * 2 * f, g.d_act + first * f, m, shape.ffn, g.d_h13 + first * 2 * f, t.stream));
    if (s == CUBLAS_STATUS_SUCCESS) s = gemm_bf16(t.handle, false, true, m, h, 2 * f, g.d_h13 + first * 2 * f, w13[e], g.dx + first * h, false);
    return s;
  });
}

cublasStatus_t expert_ffn_backward_weights(cublasHandle_t handle, ExpertFfnShape shape, const ExpertRows& rows, const __nv_bfloat16* dy, const __nv_bfloat16* x,
                                           const __nv_bfloat16* act, const ExpertFfnGrads& g, cudaStream_t stream,
                                           ExpertLanes* lanes) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  // d_w2 += act^T dy and d_w13 += x^T d_h13 (accumulated: the caller zeroes them per step).
  return per_expert(handle, lanes, stream, rows, [&](ExpertTarget t, std::int64_t first, std::int64_t m, int e) {
    cublasStatus_t s = gemm_bf16(t.handle, true, false, f, h, m, act + first * f, dy + first * h, g.d_w2[e], true);
    if (s == CUBLAS_STATUS_SUCCESS) s = gemm_bf16(t.handle, true, false, h, 2 * f, m, x + first * h, g.d_h13 + first * 2 * f, g.d_w13[e], true);
    return s;
  });
}

cublasStatus_t expert_ffn_backward(cublasHandle_t handle, ExpertFfnShape shape, const ExpertRows& rows, const __nv_bfloat16* dy, const __nv_bfloat16* x,
                                   const __nv_bfloat16* h13, const __nv_bfloat16* act, const __nv_bfloat16* const* w13,
                                   const __nv_bfloat16* const* w2, const ExpertFfnGrads& g, cudaStream_t stream,
                                   ExpertLanes* lanes) {
  const cublasStatus_t status = expert_ffn_backward_data(handle, shape, rows, dy, h13, w13, w2, g, stream, lanes);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  return expert_ffn_backward_weights(handle, shape, rows, dy, x, act, g, stream, lanes);
}

}  // namespace comet::kernels
