// bf16 GEMMs through cuBLASLt with the algorithm measured fastest for each shape. cuBLAS's own
// choice (the heuristic's first candidate) is tuned for large GEMMs; for the experts' few
// hundred rows another candidate can be faster. The first call of a shape times up to
// CANDIDATES of the heuristic's candidates on `stream` (into a scratch output, so accumulating
// GEMMs are not disturbed) and keeps the fastest; later calls reuse it.
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

namespace comet::kernels {

class GemmTuner {
 public:
  static constexpr int CANDIDATES = 8;
  static constexpr std::size_t WORKSPACE_BYTES = 32u << 20;

  GemmTuner();  ///< throws std::runtime_error when cuBLASLt or the workspace cannot be set up
  ~GemmTuner();
  GemmTuner(const GemmTuner&) = delete;
  GemmTuner& operator=(const GemmTuner&) = delete;

  /// Row-major C[m, n] = op(A) op(B) (+ C when accumulate), bf16 in and out, fp32 accumulation;
  /// the same contract as gemm_bf16 (expert_ffn.hpp).
  cublasStatus_t gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
                      const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* c, bool accumulate,
                      cudaStream_t stream);
  /// The SMs the GEMMs may use (0 = all): cuBLASLt's SM count target, for this and later shapes.
  cublasStatus_t set_sm_count_target(int sms);

 private:
  using Shape = std::tuple<bool, bool, std::int64_t, std::int64_t, std::int64_t, bool>;
  struct Choice {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  cublasStatus_t prepare(const Shape& shape, const void* a, const void* b, cudaStream_t stream, Choice& out);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  std::map<Shape, Choice> chosen_;
  int sm_target_ = 0;
};

}  // namespace comet::kernels
