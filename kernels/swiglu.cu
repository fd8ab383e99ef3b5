#include "swiglu.hpp"

#include "grid.cuh"

namespace comet::kernels {
namespace {

using grid::THREADS;

__device__ float sigmoid(float x) { return 1.0f / (1.0f + __expf(-x)); }

__global__ void swiglu_forward_kernel(const __nv_bfloat16* __restrict__ h13, std::int64_t rows, int ffn,
                                      __nv_bfloat16* __restrict__ act) {
  const std::int64_t total = rows * ffn;
  for (std::int64_t i = grid::first_element(); i < total; i += grid::element_stride()) {
    const std::int64_t r = i / ffn, f = i % ffn;
    const float gate = __bfloat162float(h13[r * 2 * ffn + f]);
    const float up = __bfloat162float(h13[r * 2 * ffn + ffn + f]);
    act[i] = __float2bfloat16(gate * sigmoid(gate) * up);
  }
}

__global__ void swiglu_backward_kernel(const __nv_bfloat16* __restrict__ h13, const __nv_bfloat16* __restrict__ d_act,
                                       std::int64_t rows, int ffn, __nv_bfloat16* __restrict__ d_h13) {
  const std::int64_t total = rows * ffn;
  for (std::int64_t i = grid::first_element(); i < total; i += grid::element_stride()) {
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

}  // namespace

cudaError_t swiglu_forward(const __nv_bfloat16* h13, std::int64_t rows, int ffn, __nv_bfloat16* act, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  swiglu_forward_kernel<<<grid::blocks_for_elements(rows * ffn), THREADS, 0, stream>>>(h13, rows, ffn, act);
  return cudaGetLastError();
}

cudaError_t swiglu_backward(const __nv_bfloat16* h13, const __nv_bfloat16* d_act, std::int64_t rows, int ffn,
                            __nv_bfloat16* d_h13, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  swiglu_backward_kernel<<<grid::blocks_for_elements(rows * ffn), THREADS, 0, stream>>>(h13, d_act, rows, ffn, d_h13);
  return cudaGetLastError();
}

}  // namespace comet::kernels
