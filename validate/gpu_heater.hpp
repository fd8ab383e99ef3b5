// Keeps a GPU at the clock it holds under sustained load while anything is timed. An H200 idles
// at a boost clock and settles at its power cap (about 700 W) after a while of dense GEMMs, and
// it climbs back within milliseconds of idling, so the same op measured right after an idle gap
// or deep inside a long run differs by up to ~15% (the first accuracy matrix: Mixtral's expert
// forward at M = 1024 took 4.39 ms as the whole of a light layer and 4.93-5.14 ms as a chunk of a
// 4x heavier one, though the 1 s heat before each Plan had run). Training runs layer after layer
// at the sustained clock; calibration and validation measure there too: a long heat before each
// Plan, and a short lead-in of GEMMs enqueued right before every run, so no idle gap separates
// the heat from the layer.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "device_buffer.hpp"

namespace comet {

class GpuHeater {
 public:
  /// Allocates and fills the operands (random data: zeros draw less power and would leave the
  /// clock higher than real data does). Throws GpuError.
  GpuHeater(cublasHandle_t handle, cudaStream_t stream);

  /// Runs dense GEMMs until `seconds` of wall time have passed (returns at once for seconds <= 0)
  /// and remembers how long one GEMM took at the end (at the clock the heat settled at).
  void heat_for(double seconds);

  /// Enqueues about `seconds` of GEMMs on the stream without waiting for them: the work
  /// enqueued next starts the moment they end, with the GPU still at its sustained clock.
  void enqueue_lead_in(double seconds);

  /// One heater GEMM's duration as last measured (seconds; measured on first use if never).
  double gemm_seconds();

 private:
  void enqueue_gemms(int count);

  cublasHandle_t handle_;
  cudaStream_t stream_;
  DeviceBuffer<__nv_bfloat16> a_, b_, c_;
  double gemm_s_ = 0.0;
};

}  // namespace comet
