// Launch shapes shared by the element-wise and row-wise kernels: grid-stride loops, so any
// count works with a capped grid.
#pragma once

#include <cstdint>

namespace comet::kernels::grid {

constexpr int THREADS = 256;

/// Blocks for one thread per element (capped; the grid-stride loop covers the rest).
inline int blocks_for_elements(std::int64_t count) {
  const std::int64_t blocks = (count + THREADS - 1) / THREADS;
  return static_cast<int>(blocks < 65535 * 16 ? blocks : 65535 * 16);
}

/// Blocks for one block per row (capped likewise).
inline int blocks_for_rows(std::int64_t rows) { return static_cast<int>(rows < 65535 ? rows : 65535); }

__device__ inline std::int64_t first_element() { return blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; }
__device__ inline std::int64_t element_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

}  // namespace comet::kernels::grid
