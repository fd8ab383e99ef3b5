// Errors from the GPU side of validation. Library code throws these; `comet validate` turns
// them into one message and exit code 3 (the machine, not the input, failed).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace comet {

inline constexpr int EXIT_GPU_FAILURE = 3;

class GpuError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A device allocation failed; the message names the buffer, its size and the free memory.
class GpuOutOfMemory : public GpuError {
 public:
  using GpuError::GpuError;
};

void check_cuda(cudaError_t error, std::string_view what);
void check_cublas(cublasStatus_t status, std::string_view what);
void check_nccl(ncclResult_t result, std::string_view what);

}  // namespace comet
