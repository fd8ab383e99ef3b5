#include "expert_ffn.hpp"

#include <vector>

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

namespace {

cublasStatus_t launch_status(cudaError_t error) {
  return error == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace

cublasStatus_t expert_ffn_forward(cublasHandle_t handle, ExpertFfnShape shape, const std::int64_t* offsets,
                                  int num_experts, const __nv_bfloat16* x, const __nv_bfloat16* const* w13,
                                  const __nv_bfloat16* const* w2, __nv_bfloat16* h13, __nv_bfloat16* act,
                                  __nv_bfloat16* y, cudaStream_t stream) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  cublasStatus_t status = cublasSetStream(handle, stream);
  for (int e = 0; e < num_experts && status == CUBLAS_STATUS_SUCCESS; ++e) {
    const std::int64_t first = offsets[e], rows = offsets[e + 1] - offsets[e];
    if (rows == 0) continue;
    status = gemm_bf16(handle, false, false, rows, 2 * f, h, x + first * h, w13[e], h13 + first * 2 * f, false);
  }
  const std::int64_t rows = offsets[num_experts] - offsets[0];
  if (status == CUBLAS_STATUS_SUCCESS)
    status = launch_status(swiglu_forward(h13 + offsets[0] * 2 * f, rows, shape.ffn, act + offsets[0] * f, stream));
  for (int e = 0; e < num_experts && status == CUBLAS_STATUS_SUCCESS; ++e) {
    const std::int64_t first = offsets[e], m = offsets[e + 1] - offsets[e];
    if (m == 0) continue;
    status = gemm_bf16(handle, false, false, m, h, f, act + first * f, w2[e], y + first * h, false);
  }
  return status;
}

// Workspace layout: for the up and then the down projection, three tables of G pointers
// (cuBLAS's A = the weights, B = the rows, C = the outputs), G = experts with rows.
std::size_t expert_ffn_grouped_workspace_bytes(int num_experts) {
  return static_cast<std::size_t>(num_experts) * 6 * sizeof(void*);
}

namespace {

std::vector<int> rows_of(const std::int64_t* offsets, int num_experts) {
  std::vector<int> rows;
  for (int e = 0; e < num_experts; ++e)
    if (offsets[e + 1] > offsets[e]) rows.push_back(static_cast<int>(offsets[e + 1] - offsets[e]));
  return rows;
}

// Problem g: the row-major C_g[rows_g, n] = A_g[rows_g, k] B_g[k, n], as cuBLAS's C^T = B^T A^T.
cublasStatus_t grouped_gemm(cublasHandle_t handle, const std::vector<int>& rows, int n, int k, const void* const* tables) {
  const int groups = static_cast<int>(rows.size());
  if (groups == 0) return CUBLAS_STATUS_SUCCESS;
  const std::vector<cublasOperation_t> op(groups, CUBLAS_OP_N);
  const std::vector<int> m_array(groups, n), k_array(groups, k), lda(groups, n), ldb(groups, k), ldc(groups, n), size(groups, 1);
  const std::vector<float> alpha(groups, 1.0f), beta(groups, 0.0f);
  return cublasGemmGroupedBatchedEx(handle, op.data(), op.data(), m_array.data(), rows.data(), k_array.data(), alpha.data(),
                                    tables, CUDA_R_16BF, lda.data(), tables + groups, CUDA_R_16BF, ldb.data(), beta.data(),
                                    const_cast<void* const*>(tables + 2 * groups), CUDA_R_16BF, ldc.data(), groups, size.data(),
                                    CUBLAS_COMPUTE_32F);
}

}  // namespace

cudaError_t expert_ffn_grouped_prepare(ExpertFfnShape shape, const std::int64_t* offsets, int num_experts,
                                       const __nv_bfloat16* x, const __nv_bfloat16* const* w13,
                                       const __nv_bfloat16* const* w2, __nv_bfloat16* h13, __nv_bfloat16* act,
                                       __nv_bfloat16* y, void* workspace) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  std::vector<const void*> up_a, up_b, up_c, down_a, down_b, down_c;
  for (int e = 0; e < num_experts; ++e) {
    const std::int64_t first = offsets[e];
    if (offsets[e + 1] == first) continue;
    up_a.push_back(w13[e]), up_b.push_back(x + first * h), up_c.push_back(h13 + first * 2 * f);
    down_a.push_back(w2[e]), down_b.push_back(act + first * f), down_c.push_back(y + first * h);
  }
  std::vector<const void*> tables;
  for (const auto* part : {&up_a, &up_b, &up_c, &down_a, &down_b, &down_c}) tables.insert(tables.end(), part->begin(), part->end());
  if (tables.empty()) return cudaSuccess;
  return cudaMemcpy(workspace, tables.data(), tables.size() * sizeof(void*), cudaMemcpyHostToDevice);
}

cublasStatus_t expert_ffn_forward_grouped(cublasHandle_t handle, ExpertFfnShape shape, const std::int64_t* offsets,
                                          int num_experts, __nv_bfloat16* h13, __nv_bfloat16* act, const void* workspace,
                                          cudaStream_t stream) {
  const std::int64_t f = shape.ffn;
  const std::vector<int> rows = rows_of(offsets, num_experts);
  const auto* up = static_cast<const void* const*>(workspace);
  const void* const* down = up + 3 * rows.size();
  cublasStatus_t status = cublasSetStream(handle, stream);
  if (status == CUBLAS_STATUS_SUCCESS) status = grouped_gemm(handle, rows, static_cast<int>(2 * f), shape.hidden, up);
  const std::int64_t total = offsets[num_experts] - offsets[0];
  if (status == CUBLAS_STATUS_SUCCESS)
    status = launch_status(swiglu_forward(h13 + offsets[0] * 2 * f, total, shape.ffn, act + offsets[0] * f, stream));
  if (status == CUBLAS_STATUS_SUCCESS) status = grouped_gemm(handle, rows, shape.hidden, static_cast<int>(f), down);
  return status;
}

cublasStatus_t expert_ffn_backward_data(cublasHandle_t handle, ExpertFfnShape shape, const std::int64_t* offsets,
                                        int num_experts, const __nv_bfloat16* dy, const __nv_bfloat16* h13,
                                        const __nv_bfloat16* const* w13, const __nv_bfloat16* const* w2,
                                        const ExpertFfnGrads& g, cudaStream_t stream) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  cublasStatus_t status = cublasSetStream(handle, stream);
  // d_act = dy w2^T; d_h13 = swiglu'(h13) d_act; dx = d_h13 w13^T.
  for (int e = 0; e < num_experts && status == CUBLAS_STATUS_SUCCESS; ++e) {
    const std::int64_t first = offsets[e], m = offsets[e + 1] - offsets[e];
    if (m > 0) status = gemm_bf16(handle, false, true, m, f, h, dy + first * h, w2[e], g.d_act + first * f, false);
  }
  const std::int64_t rows = offsets[num_experts] - offsets[0];
  if (status == CUBLAS_STATUS_SUCCESS)
    status = launch_status(swiglu_backward(h13 + offsets[0] * 2 * f, g.d_act + offsets[0] * f, rows, shape.ffn,
                                           g.d_h13 + offsets[0] * 2 * f, stream));
  for (int e = 0; e < num_experts && status == CUBLAS_STATUS_SUCCESS; ++e) {
    const std::int64_t first = offsets[e], m = offsets[e + 1] - offsets[e];
    if (m > 0) status = gemm_bf16(handle, false, true, m, h, 2 * f, g.d_h13 + first * 2 * f, w13[e], g.dx + first * h, false);
  }
  return status;
}

cublasStatus_t expert_ffn_backward_weights(cublasHandle_t handle, ExpertFfnShape shape, const std::int64_t* offsets,
                                           int num_experts, const __nv_bfloat16* dy, const __nv_bfloat16* x,
                                           const __nv_bfloat16* act, const ExpertFfnGrads& g, cudaStream_t stream) {
  const std::int64_t h = shape.hidden, f = shape.ffn;
  cublasStatus_t status = cublasSetStream(handle, stream);
  // d_w2 += act^T dy and d_w13 += x^T d_h13 (weight gradients accumulate over chunks).
  for (int e = 0; e < num_experts && status == CUBLAS_STATUS_SUCCESS; ++e) {
    const std::int64_t first = offsets[e], m = offsets[e + 1] - offsets[e];
    if (m == 0) continue;
    status = gemm_bf16(handle, true, false, f, h, m, act + first * f, dy + first * h, g.d_w2[e], true);
    if (status == CUBLAS_STATUS_SUCCESS)
      status = gemm_bf16(handle, true, false, h, 2 * f, m, x + first * h, g.d_h13 + first * 2 * f, g.d_w13[e], true);
  }
  return status;
}

cublasStatus_t expert_ffn_backward(cublasHandle_t handle, ExpertFfnShape shape, const std::int64_t* offsets,
                                   int num_experts, const __nv_bfloat16* dy, const __nv_bfloat16* x,
                                   const __nv_bfloat16* h13, const __nv_bfloat16* act, const __nv_bfloat16* const* w13,
                                   const __nv_bfloat16* const* w2, const ExpertFfnGrads& g, cudaStream_t stream) {
  const cublasStatus_t status = expert_ffn_backward_data(handle, shape, offsets, num_experts, dy, h13, w13, w2, g, stream);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  return expert_ffn_backward_weights(handle, shape, offsets, num_experts, dy, x, act, g, stream);
}

}  // namespace comet::kernels
