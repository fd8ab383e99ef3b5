#include "swiglu.hpp"

namespace comet::kernels {
namespace {

constexpr int THREADS = 256;

__device__ float sigmoid(float x) { return 1.0f / (1.0f + __expf(-x)); }

__global__ void swiglu_forward_kernel(const __nv_bfloat16* __restrict__ h13, std::int64_t rows, int ffn,
                                      __nv_bfloat16* __restrict__ act) {
  const std::int64_t total = rows * ffn;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / ffn, f = i % ffn;
    const float gate = __bfloat162float(h13[r * 2 * ffn + f]);
    const float up = __bfloat162float(h13[r * 2 * ffn + ffn + f]);
    act[i] = __float2bfloat16(gate * sigmoid(gate) * up);
  }
}

__global__ void swiglu_backward_kernel(const __nv_bfloat16* __restrict__ h13, const __nv_bfloat16* __restrict__ d_act,
                                       std::int64_t rows, int ffn, __nv_bfloat16* __restrict__ d_h13) {
  const std::int64_t total = rows * ffn;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / ffn, f = i % ffn;
    const float gate = __bfloat162float(h13[r * 2 * ffn + f]);
    const float up = __bfloat162float(h13[r * 2 * ffn + ffn + f]);
    const float d = __bfloat162float(d_act[i]);
    const float s = sigmoid(gate);
    const float silu = gate * s;
    d_h13[r * 2 * ffn + f] = __float2bfloat16(d * up * (s + silu * (1.0f - s)));
    d_h13[r * 2 * ffn + ffn + f] = __float2bfloat16(d * silu);
  }
}

int blocks_for(std::int64_t total) {
  const std::int64_t blocks = (total + THREADS - 1) / THREADS;
  return static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

}  // namespace

cudaError_t swiglu_forward(const __nv_bfloat16* h13, std::int64_t rows, int ffn, __nv_bfloat16* act, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  swiglu_forward_kernel<<<blocks_for(rows * ffn), THREADS, 0, stream>>>(h13, rows, ffn, act);
  return cudaGetLastError();
}

cudaError_t swiglu_backward(const __nv_bfloat16* h13, const __nv_bfloat16* d_act, std::int64_t rows, int ffn,
                            __nv_bfloat16* d_h13, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  swiglu_backward_kernel<<<blocks_for(rows * ffn), THREADS, 0, stream>>>(h13, d_act, rows, ffn, d_h13);
  return cudaGetLastError();
}

}  // namespace comet::kernels
