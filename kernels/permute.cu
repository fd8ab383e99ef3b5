#include "permute.hpp"

#include "grid.cuh"

namespace comet::kernels {
namespace {

using grid::THREADS;

__global__ void gather_rows_kernel(const __nv_bfloat16* __restrict__ in, const std::int32_t* __restrict__ rows,
                                   const float* __restrict__ scale, std::int64_t num_rows, int hidden,
                                   __nv_bfloat16* __restrict__ out, const std::int32_t* __restrict__ out_rows) {
  for (std::int64_t i = blockIdx.x; i < num_rows; i += gridDim.x) {
    const __nv_bfloat16* src = in + static_cast<std::int64_t>(rows[i]) * hidden;
    __nv_bfloat16* dst = out + (out_rows == nullptr ? i : static_cast<std::int64_t>(out_rows[i])) * hidden;
    if (scale == nullptr && hidden % 8 == 0) {
      // 16-byte vectors: a row copy is bandwidth-bound.
      const uint4* s = reinterpret_cast<const uint4*>(src);
      uint4* d = reinterpret_cast<uint4*>(dst);
      for (int v = threadIdx.x; v < hidden / 8; v += blockDim.x) d[v] = s[v];
    } else {
      const float factor = scale == nullptr ? 1.0f : scale[i];
      for (int h = threadIdx.x; h < hidden; h += blockDim.x) dst[h] = __float2bfloat16(__bfloat162float(src[h]) * factor);
    }
  }
}

__global__ void combine_rows_kernel(const __nv_bfloat16* __restrict__ in, const std::int32_t* __restrict__ positions,
                                    const float* __restrict__ weights, std::int64_t num_tokens, int top_k, int hidden,
                                    float* __restrict__ out) {
  for (std::int64_t t = blockIdx.x; t < num_tokens; t += gridDim.x) {
    for (int h = threadIdx.x; h < hidden; h += blockDim.x) {
      float sum = 0.0f;
      bool any = false;
      for (int j = 0; j < top_k; ++j) {
        const std::int32_t p = positions[t * top_k + j];
        if (p < 0) continue;
        const float w = weights == nullptr ? 1.0f : weights[t * top_k + j];
        sum += w * __bfloat162float(in[static_cast<std::int64_t>(p) * hidden + h]);
        any = true;
      }
      if (any) out[t * hidden + h] += sum;
    }
  }
}

}  // namespace

cudaError_t gather_rows(const __nv_bfloat16* in, const std::int32_t* rows, const float* scale, std::int64_t num_rows,
                        int hidden, __nv_bfloat16* out, cudaStream_t stream, const std::int32_t* out_rows) {
  if (num_rows <= 0) return cudaSuccess;
  gather_rows_kernel<<<grid::blocks_for_rows(num_rows), THREADS, 0, stream>>>(in, rows, scale, num_rows, hidden, out, out_rows);
  return cudaGetLastError();
}

cudaError_t combine_rows(const __nv_bfloat16* in, const std::int32_t* positions, const float* weights,
                         std::int64_t num_tokens, int top_k, int hidden, float* out, cudaStream_t stream) {
  if (num_tokens <= 0) return cudaSuccess;
  combine_rows_kernel<<<grid::blocks_for_rows(num_tokens), THREADS, 0, stream>>>(in, positions, weights, num_tokens, top_k, hidden, out);
  return cudaGetLastError();
}

}  // namespace comet::kernels
