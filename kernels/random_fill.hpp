// Deterministic random bf16 data on the GPU (weights, activations, gradients): value i is
// random_value(seed, i, scale) rounded to bf16, so a host reference can rebuild it.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace comet::kernels {

cudaError_t random_fill_bf16(__nv_bfloat16* data, std::int64_t count, std::uint64_t seed, float scale,
                             cudaStream_t stream);

}  // namespace comet::kernels
