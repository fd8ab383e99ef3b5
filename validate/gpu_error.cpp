#include "gpu_error.hpp"

#include <fmt/format.h>

namespace comet {

void check_cuda(cudaError_t error, std::string_view what) {
  if (error != cudaSuccess) throw GpuError(fmt::format("{}: CUDA error {} ({})", what, cudaGetErrorName(error), cudaGetErrorString(error)));
}

void check_cublas(cublasStatus_t status, std::string_view what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw GpuError(fmt::format("{}: cuBLAS error {} ({})", what, cublasGetStatusName(status), cublasGetStatusString(status)));
}

void check_nccl(ncclResult_t result, std::string_view what) {
  if (result != ncclSuccess) throw GpuError(fmt::format("{}: NCCL error {} ({})", what, static_cast<int>(result), ncclGetErrorString(result)));
}

}  // namespace comet
