// A uniform double in [0, 1) from (seed, index), identical on the host and the GPU: the GPU
// fills weights and activations with it, and host references regenerate the same values.
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define COMET_HOST_DEVICE __host__ __device__
#else
#define COMET_HOST_DEVICE
#endif

namespace comet::kernels {

/// splitmix64 of (seed, index), top 53 bits as a fraction.
COMET_HOST_DEVICE inline double hash_uniform(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ULL + index + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

/// The value random_fill_bf16 puts at `index`, before rounding to bf16: uniform in [-scale, scale).
COMET_HOST_DEVICE inline float random_value(std::uint64_t seed, std::uint64_t index, float scale) {
  return static_cast<float>((2.0 * hash_uniform(seed, index) - 1.0) * scale);
}

}  // namespace comet::kernels
