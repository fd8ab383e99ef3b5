// Brings a GPU to the clock it holds under sustained load before anything is timed. An H200
// idles at a boost clock and settles at its power cap (about 700 W) after a while of dense
// GEMMs, so the same op measured right after an idle gap or at the end of a long run differs by
// up to ~15% (seen in the first accuracy matrix: Mixtral's expert forward at M = 1024 took 4.38 ms
// inside a light calibration run and 5.07 ms inside a heavy one). Training runs at the sustained
// clock; calibration and validation measure there too.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace comet {

/// Runs dense bf16 GEMMs (4096 x 4096 x 4096, random data) on `stream` with `handle` until
/// `seconds` of wall time have passed; returns at once for seconds <= 0. Throws GpuError.
void heat_gpu(cublasHandle_t handle, cudaStream_t stream, double seconds);

}  // namespace comet
