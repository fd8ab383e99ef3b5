// Host-side description of the layer data the real executor generates: dimensions and the
// seeds of every random tensor. Shared by the GPU buffers and the CPU reference.
#pragma once

#include <cmath>
#include <cstdint>

namespace comet {

struct LayerDims {
  int hidden = 0, ffn = 0, top_k = 0, experts = 0;
  std::int64_t row_bytes() const { return static_cast<std::int64_t>(hidden) * 2; }  // bf16
};

/// Seeds of the random data: the same values on every rank and under every policy, so outputs
/// can be compared; expert e's weights depend only on e, not on where it is placed.
struct DataSeeds {
  std::uint64_t base = 1;
  std::uint64_t tokens(int rank) const { return base * 1000003 + 17 + static_cast<std::uint64_t>(rank); }
  std::uint64_t output_grad(int rank) const { return base * 1000003 + 7919 + static_cast<std::uint64_t>(rank); }
  std::uint64_t w13(int expert) const { return base * 2000003 + 2 * static_cast<std::uint64_t>(expert); }
  std::uint64_t w2(int expert) const { return base * 2000003 + 2 * static_cast<std::uint64_t>(expert) + 1; }
  // Scaled like a default initialisation (uniform in +-1/sqrt(fan-in)) so activations stay O(1).
  static float w13_scale(const LayerDims& d) { return 1.0f / std::sqrt(static_cast<float>(d.hidden)); }
  static float w2_scale(const LayerDims& d) { return 1.0f / std::sqrt(static_cast<float>(d.ffn)); }
};

}  // namespace comet
