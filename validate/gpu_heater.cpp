#include "gpu_heater.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "expert_ffn.hpp"
#include "gpu_error.hpp"
#include "random_fill.hpp"

namespace comet {
namespace {

constexpr std::int64_t N = 4096;         // 4096^3 bf16: ~0.2 ms per GEMM on an H100/H200
constexpr int GEMMS_PER_ROUND = 8;       // per host check of the wall clock
constexpr int MAX_LEAD_IN_GEMMS = 4096;  // a bound on what one lead-in enqueues

}  // namespace

GpuHeater::GpuHeater(cublasHandle_t handle, cudaStream_t stream)
    : handle_(handle), stream_(stream), a_("heater A", N * N), b_("heater B", N * N), c_("heater C", N * N) {
  check_cuda(kernels::random_fill_bf16(a_.get(), N * N, 1, 0.05f, stream), "fill the heater's operands");
  check_cuda(kernels::random_fill_bf16(b_.get(), N * N, 2, 0.05f, stream), "fill the heater's operands");
}

void GpuHeater::enqueue_gemms(int count) {
  check_cublas(cublasSetStream(handle_, stream_), "set stream");
  check_cublas(cublasSetSmCountTarget(handle_, 0), "give the heater every SM");
  for (int i = 0; i < count; ++i)
    check_cublas(kernels::gemm_bf16(handle_, false, false, N, N, N, a_.get(), b_.get(), c_.get(), false), "heater GEMM");
}

void GpuHeater::heat_for(double seconds) {
  if (seconds <= 0.0) return;
  cudaEvent_t start = nullptr, end = nullptr;
  check_cuda(cudaEventCreate(&start), "create event");
  check_cuda(cudaEventCreate(&end), "create event");
  const auto wall_start = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count() < seconds) {
    check_cuda(cudaEventRecord(start, stream_), "record heater start");
    enqueue_gemms(GEMMS_PER_ROUND);
    check_cuda(cudaEventRecord(end, stream_), "record heater end");
    check_cuda(cudaEventSynchronize(end), "heater");
    float ms = 0.0f;
    check_cuda(cudaEventElapsedTime(&ms, start, end), "read heater time");
    gemm_s_ = ms * 1e-3 / GEMMS_PER_ROUND;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(end);
}

double GpuHeater::gemm_seconds() {
  if (gemm_s_ <= 0.0) heat_for(1e-9);  // one round
  return gemm_s_;
}

void GpuHeater::enqueue_lead_in(double seconds) {
  if (seconds <= 0.0) return;
  const double count = std::ceil(seconds / gemm_seconds());
  enqueue_gemms(static_cast<int>(std::clamp(count, 1.0, static_cast<double>(MAX_LEAD_IN_GEMMS))));
}

}  // namespace comet
