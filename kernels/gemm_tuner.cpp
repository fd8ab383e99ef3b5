#include "gemm_tuner.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <vector>

namespace comet::kernels {
namespace {

constexpr int TIMED_RUNS = 3;

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLASLt's first operand is
// B and its second A (as in gemm_bf16). A stored operand with op N is (rows x cols) = what it
// contributes; with op T its transpose is stored.
cublasLtMatrixLayout_t layout(std::uint64_t rows, std::uint64_t cols, bool transposed) {
  cublasLtMatrixLayout_t out = nullptr;
  const std::uint64_t r = transposed ? cols : rows, c = transposed ? rows : cols;
  if (cublasLtMatrixLayoutCreate(&out, CUDA_R_16BF, r, c, static_cast<std::int64_t>(r)) != CUBLAS_STATUS_SUCCESS) return nullptr;
  return out;
}

}  // namespace

GemmTuner::GemmTuner() {
  if (cublasLtCreate(&handle_) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("GEMM tuner: cublasLtCreate failed");
  if (cudaMalloc(&workspace_, WORKSPACE_BYTES) != cudaSuccess) {
    cublasLtDestroy(handle_);
    throw std::runtime_error("GEMM tuner: no memory for the 32 MiB cuBLASLt workspace");
  }
}

GemmTuner::~GemmTuner() {
  for (auto& [shape, choice] : chosen_) {
    cublasLtMatmulDescDestroy(choice.op);
    for (cublasLtMatrixLayout_t l : {choice.a, choice.b, choice.c}) cublasLtMatrixLayoutDestroy(l);
  }
  cudaFree(workspace_);
  cublasLtDestroy(handle_);
}

cublasStatus_t GemmTuner::prepare(const Shape& shape, const void* a, const void* b, cudaStream_t stream, Choice& out) {
  const auto [ta, tb, m, n, k, accumulate] = shape;
  cublasStatus_t status = cublasLtMatmulDescCreate(&out.op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  const cublasOperation_t op_first = tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_second = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulDescSetAttribute(out.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first);
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulDescSetAttribute(out.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second);
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulDescSetAttribute(out.op, CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, &sm_target_, sizeof sm_target_);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  out.a = layout(static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(k), tb);   // B^T: n x k
  out.b = layout(static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(m), ta);   // A^T: k x m
  out.c = layout(static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(m), false);
  if (!out.a || !out.b || !out.c) return CUBLAS_STATUS_ALLOC_FAILED;

  cublasLtMatmulPreference_t preference = nullptr;
  status = cublasLtMatmulPreferenceCreate(&preference);
  const std::size_t workspace = WORKSPACE_BYTES;
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace);
  std::vector<cublasLtMatmulHeuristicResult_t> candidates(CANDIDATES);
  int found = 0;
  if (status == CUBLAS_STATUS_SUCCESS)
    status = cublasLtMatmulAlgoGetHeuristic(handle_, out.op, out.a, out.b, out.c, out.c, preference, CANDIDATES,
                                            candidates.data(), &found);
  cublasLtMatmulPreferenceDestroy(preference);
  if (status != CUBLAS_STATUS_SUCCESS) return status;
  if (found == 0) return CUBLAS_STATUS_NOT_SUPPORTED;

  // Time each candidate into a scratch output (beta as the real call, C read from the scratch).
  void* scratch = nullptr;
  if (cudaMalloc(&scratch, static_cast<std::size_t>(m * n) * sizeof(__nv_bfloat16)) != cudaSuccess) {
    cudaGetLastError();
    out.algo = candidates[0].algo;  // no room to compare: the heuristic's first choice
    return CUBLAS_STATUS_SUCCESS;
  }
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  float best = std::numeric_limits<float>::infinity();
  out.algo = candidates[0].algo;
  for (int i = 0; i < found; ++i) {
    if (candidates[i].state != CUBLAS_STATUS_SUCCESS) continue;
    auto run = [&] {
      return cublasLtMatmul(handle_, out.op, &alpha, b, out.a, a, out.b, &beta, scratch, out.c, scratch, out.c,
                            &candidates[i].algo, workspace_, WORKSPACE_BYTES, stream);
    };
    if (run() != CUBLAS_STATUS_SUCCESS) continue;  // warm-up; a candidate that fails is skipped
    cudaEventRecord(start, stream);
    for (int r = 0; r < TIMED_RUNS; ++r) run();
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0.0f;
    if (cudaEventElapsedTime(&ms, start, stop) == cudaSuccess && ms < best) {
      best = ms;
      out.algo = candidates[i].algo;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(scratch);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t GemmTuner::set_sm_count_target(int sms) {
  sm_target_ = sms;
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  for (auto& [shape, choice] : chosen_)
    if (status == CUBLAS_STATUS_SUCCESS)
      status = cublasLtMatmulDescSetAttribute(choice.op, CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, &sm_target_, sizeof sm_target_);
  return status;
}

cublasStatus_t GemmTuner::gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
                               const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c, bool accumulate,
                               cudaStream_t stream) {
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const Shape shape{transpose_a, transpose_b, m, n, k, accumulate};
  auto found = chosen_.find(shape);
  if (found == chosen_.end()) {
    Choice choice;
    const cublasStatus_t status = prepare(shape, a, b, stream, choice);
    if (status != CUBLAS_STATUS_SUCCESS) return status;
    found = chosen_.emplace(shape, choice).first;
  }
  const Choice& choice = found->second;
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  return cublasLtMatmul(handle_, choice.op, &alpha, b, choice.a, a, choice.b, &beta, c, choice.c, c, choice.c, &choice.algo,
                        workspace_, WORKSPACE_BYTES, stream);
}

}  // namespace comet::kernels
