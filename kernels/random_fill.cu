#include "hash_uniform.hpp"
#include "random_fill.hpp"

namespace comet::kernels {
namespace {

__global__ void random_fill_kernel(__nv_bfloat16* data, std::int64_t count, std::uint64_t seed, float scale) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    data[i] = __float2bfloat16(random_value(seed, static_cast<std::uint64_t>(i), scale));
}

}  // namespace

cudaError_t random_fill_bf16(__nv_bfloat16* data, std::int64_t count, std::uint64_t seed, float scale,
                             cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  constexpr int THREADS = 256;
  const std::int64_t blocks = (count + THREADS - 1) / THREADS;
  random_fill_kernel<<<static_cast<int>(blocks < 65535 * 16 ? blocks : 65535 * 16), THREADS, 0, stream>>>(data, count, seed,
                                                                                                          scale);
  return cudaGetLastError();
}

}  // namespace comet::kernels
