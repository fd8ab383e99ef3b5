#include "gpu_heater.hpp"

#include <chrono>

#include "device_buffer.hpp"
#include "expert_ffn.hpp"
#include "gpu_error.hpp"
#include "random_fill.hpp"

namespace comet {

void heat_gpu(cublasHandle_t handle, cudaStream_t stream, double seconds) {
  if (seconds <= 0.0) return;
  constexpr std::int64_t n = 4096;
  DeviceBuffer<__nv_bfloat16> a("heater A", n * n), b("heater B", n * n), c("heater C", n * n);
  // Random operands: zeros draw less power and would leave the clock higher than real data does.
  check_cuda(kernels::random_fill_bf16(a.get(), n * n, 1, 0.05f, stream), "fill the heater's operands");
  check_cuda(kernels::random_fill_bf16(b.get(), n * n, 2, 0.05f, stream), "fill the heater's operands");
  check_cublas(cublasSetStream(handle, stream), "set stream");
  check_cublas(cublasSetSmCountTarget(handle, 0), "give the heater every SM");
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    for (int i = 0; i < 8; ++i)  // ~1.6 ms of work per round at ~700 TFLOP/s
      check_cublas(kernels::gemm_bf16(handle, false, false, n, n, n, a.get(), b.get(), c.get(), false), "heater GEMM");
    check_cuda(cudaStreamSynchronize(stream), "heater");
  }
}

}  // namespace comet
