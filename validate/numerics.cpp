#include "numerics.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "hash_uniform.hpp"

namespace comet {
namespace {

// Round to bf16 (nearest even), as __float2bfloat16 does on the GPU.
float to_bf16(float value) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  bits += 0x7FFF + ((bits >> 16) & 1);
  bits &= 0xFFFF0000u;
  float out = 0.0f;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

std::vector<float> random_bf16(std::uint64_t seed, std::size_t count, float scale) {
  std::vector<float> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = to_bf16(kernels::random_value(seed, i, scale));
  return v;
}

}  // namespace

double worst_error(std::initializer_list<double> errors) {
  double worst = 0.0;
  for (double e : errors) {
    if (std::isnan(e)) return e;
    worst = std::max(worst, e);
  }
  return worst;
}

double relative_error(const std::vector<float>& out, const std::vector<float>& ref) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (out.size() != ref.size()) return nan;
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i]) || !std::isfinite(ref[i])) return nan;
    const double d = static_cast<double>(out[i]) - ref[i];
    diff += d * d;
    norm += static_cast<double>(ref[i]) * ref[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : nan;
}

double cpu_reference_cost(const TokenLayout& layout, const LayerDims& dims) {
  double copies = 0.0;
  for (int r = 0; r < layout.num_ranks(); ++r) copies += static_cast<double>(layout.tokens(r).tokens) * layout.top_k();
  return copies * 3.0 * dims.hidden * dims.ffn;
}

std::vector<float> cpu_reference_output(const TokenLayout& layout, const LayerDims& dims, const DataSeeds& seeds) {
  const std::size_t h = dims.hidden, f = dims.ffn;
  std::vector<std::vector<float>> w13(dims.experts), w2(dims.experts);
  std::vector<float> out;
  std::vector<float> h13(2 * f), act(f);
  for (int r = 0; r < layout.num_ranks(); ++r) {
    const RankTokens& tokens = layout.tokens(r);
    const std::vector<float> x = random_bf16(seeds.tokens(r), static_cast<std::size_t>(tokens.tokens) * h, 1.0f);
    const std::size_t base = out.size();
    out.resize(base + static_cast<std::size_t>(tokens.tokens) * h, 0.0f);
    for (std::int64_t t = 0; t < tokens.tokens; ++t)
      for (int j = 0; j < layout.top_k(); ++j) {
        const std::size_t copy = static_cast<std::size_t>(t) * layout.top_k() + j;
        const int e = tokens.experts[copy];
        if (w13[e].empty()) {
          w13[e] = random_bf16(seeds.w13(e), h * 2 * f, DataSeeds::w13_scale(dims));
          w2[e] = random_bf16(seeds.w2(e), f * h, DataSeeds::w2_scale(dims));
        }
        const float* xt = &x[static_cast<std::size_t>(t) * h];
        std::fill(h13.begin(), h13.end(), 0.0f);
        for (std::size_t i = 0; i < h; ++i)
          for (std::size_t n = 0; n < 2 * f; ++n) h13[n] += xt[i] * w13[e][i * 2 * f + n];
        for (std::size_t n = 0; n < f; ++n) act[n] = h13[n] / (1.0f + std::exp(-h13[n])) * h13[f + n];
        float* o = &out[base + static_cast<std::size_t>(t) * h];
        const float w = tokens.weights[copy];
        for (std::size_t n = 0; n < f; ++n)
          for (std::size_t i = 0; i < h; ++i) o[i] += w * act[n] * w2[e][n * h + i];
      }
  }
  return out;
}

}  // namespace comet
