#include "grid.cuh"
#include "hash_uniform.hpp"
#include "random_fill.hpp"

namespace comet::kernels {
namespace {

__global__ void random_fill_kernel(__nv_bfloat16* data, std::int64_t count, std::uint64_t seed, float scale) {
  for (std::int64_t i = grid::first_element(); i < count; i += grid::element_stride())
    data[i] = __float2bfloat16(random_value(seed, static_cast<std::uint64_t>(i), scale));
}

}  // namespace

cudaError_t random_fill_bf16(__nv_bfloat16* data, std::int64_t count, std::uint64_t seed, float scale,
                             cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  random_fill_kernel<<<grid::blocks_for_elements(count), grid::THREADS, 0, stream>>>(data, count, seed, scale);
  return cudaGetLastError();
}

}  // namespace comet::kernels
