// Helpers of the GPU tests: skipping without a device, and copies between host and device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace comet::testing {

inline int gpu_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

/// Skips the test (ctest reports it as skipped) without enough GPUs.
#define COMET_REQUIRE_GPUS(n)                                                       \
  do {                                                                              \
    if (::comet::testing::gpu_count() < (n)) {                                      \
      GTEST_SKIP() << "SKIPPED: needs " << (n) << " CUDA GPU(s)";                   \
    }                                                                               \
  } while (false)

template <typename T>
T* to_device(const std::vector<T>& host) {
  T* device = nullptr;
  EXPECT_EQ(cudaMalloc(&device, sizeof(T) * std::max<std::size_t>(host.size(), 1)), cudaSuccess);
  if (!host.empty()) {
    EXPECT_EQ(cudaMemcpy(device, host.data(), sizeof(T) * host.size(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  return device;
}

template <typename T>
std::vector<T> to_host(const T* device, std::size_t count) {
  std::vector<T> host(count);
  EXPECT_EQ(cudaMemcpy(host.data(), device, sizeof(T) * count, cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

inline std::vector<__nv_bfloat16> to_bf16(const std::vector<float>& values) {
  std::vector<__nv_bfloat16> out(values.size());
  std::transform(values.begin(), values.end(), out.begin(), [](float v) { return __float2bfloat16(v); });
  return out;
}

inline std::vector<float> to_float(const std::vector<__nv_bfloat16>& values) {
  std::vector<float> out(values.size());
  std::transform(values.begin(), values.end(), out.begin(), [](__nv_bfloat16 v) { return __bfloat162float(v); });
  return out;
}

/// Values exactly representable in bf16, varied enough to catch misplaced rows.
inline std::vector<float> sample_values(std::size_t count, int salt) {
  std::vector<float> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = static_cast<float>(static_cast<int>((i * 37 + salt * 11) % 61) - 30) / 16.0f;
  return v;
}

/// Relative RMS difference of `got` from `want` (bf16 results of fp32 accumulations in another
/// order land near 1e-3); a NaN anywhere makes it NaN, which fails every `<` bound.
inline double relative_rms(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < want.size(); ++i) diff += (got[i] - want[i]) * (got[i] - want[i]), norm += want[i] * want[i];
  return norm > 0 ? std::sqrt(diff / norm) : (diff > 0 ? 1.0 : 0.0);
}

}  // namespace comet::testing
