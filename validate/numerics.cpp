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

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// One token copy through one expert, forward and backward, accumulated into the layer's tensors.
struct CopyPass {
  std::size_t h, f;
  std::vector<float> h13, act, d_act, d_h13;  // [2F], [F], [F], [2F]

  CopyPass(std::size_t hidden, std::size_t ffn) : h(hidden), f(ffn), h13(2 * ffn), act(ffn), d_act(ffn), d_h13(2 * ffn) {}

  // x: the token [H]; g: its gate weight for this expert; d_out: its output gradient [H].
  // Adds g * y to out and the copy's input gradient to dx; with dw13/dw2 set, adds the copy's
  // weight gradients there.
  void run(const float* x, float g, const float* d_out, const std::vector<float>& w13, const std::vector<float>& w2,
           float* out, float* dx, float* dw13, float* dw2) {
    std::fill(h13.begin(), h13.end(), 0.0f);
    for (std::size_t i = 0; i < h; ++i)
      for (std::size_t n = 0; n < 2 * f; ++n) h13[n] += x[i] * w13[i * 2 * f + n];
    for (std::size_t n = 0; n < f; ++n) act[n] = h13[n] * sigmoid(h13[n]) * h13[f + n];
    for (std::size_t n = 0; n < f; ++n)
      for (std::size_t i = 0; i < h; ++i) out[i] += g * act[n] * w2[n * h + i];
    // Backward: dy = g d_out; d_act = W2 dy; d_h13 = SwiGLU'(h13) d_act; dx += W13 d_h13.
    for (std::size_t n = 0; n < f; ++n) {
      float sum = 0.0f;
      for (std::size_t i = 0; i < h; ++i) sum += w2[n * h + i] * g * d_out[i];
      d_act[n] = sum;
    }
    for (std::size_t n = 0; n < f; ++n) {
      const float gate = h13[n], up = h13[f + n], s = sigmoid(gate), silu = gate * s;
      d_h13[n] = d_act[n] * up * (s + silu * (1.0f - s));
      d_h13[f + n] = d_act[n] * silu;
    }
    for (std::size_t i = 0; i < h; ++i) {
      float sum = 0.0f;
      for (std::size_t n = 0; n < 2 * f; ++n) sum += w13[i * 2 * f + n] * d_h13[n];
      dx[i] += sum;
    }
    if (dw13 == nullptr) return;
    for (std::size_t i = 0; i < h; ++i)
      for (std::size_t n = 0; n < 2 * f; ++n) dw13[i * 2 * f + n] += x[i] * d_h13[n];
    for (std::size_t n = 0; n < f; ++n)
      for (std::size_t i = 0; i < h; ++i) dw2[n * h + i] += act[n] * g * d_out[i];
  }
};

}  // namespace

LayerInputs generated_inputs(const TokenLayout& layout, const LayerDims& dims, const DataSeeds& seeds) {
  const std::size_t h = dims.hidden, f = dims.ffn;
  LayerInputs in;
  in.w13.resize(dims.experts);
  in.w2.resize(dims.experts);
  for (int r = 0; r < layout.num_ranks(); ++r) {
    const RankTokens& tokens = layout.tokens(r);
    const std::size_t values = static_cast<std::size_t>(tokens.tokens) * h;
    in.x.push_back(random_bf16(seeds.tokens(r), values, 1.0f));
    in.d_out.push_back(random_bf16(seeds.output_grad(r), values, 1.0f));
    for (std::int32_t e : tokens.experts)
      if (in.w13[e].empty()) {
        in.w13[e] = random_bf16(seeds.w13(e), h * 2 * f, DataSeeds::w13_scale(dims));
        in.w2[e] = random_bf16(seeds.w2(e), f * h, DataSeeds::w2_scale(dims));
      }
  }
  return in;
}

LayerTensors reference_layer(const TokenLayout& layout, const LayerDims& dims, const LayerInputs& in) {
  const std::size_t h = dims.hidden, f = dims.ffn, k = static_cast<std::size_t>(layout.top_k());
  const std::size_t per_expert = h * 2 * f + f * h;
  // Where each expert's weight gradients go: the ranks whose first local expert it is.
  std::vector<std::vector<std::size_t>> gradient_at(dims.experts);
  for (int r = 0; r < layout.num_ranks(); ++r)
    if (!layout.slot_experts(r).empty()) gradient_at[layout.slot_experts(r).front()].push_back(static_cast<std::size_t>(r));
  std::vector<std::vector<float>> dw(dims.experts);
  LayerTensors t;
  t.weight_gradient.assign(static_cast<std::size_t>(layout.num_ranks()) * per_expert, 0.0f);
  CopyPass pass(h, f);
  for (int r = 0; r < layout.num_ranks(); ++r) {
    const RankTokens& tokens = layout.tokens(r);
    const std::size_t base = t.output.size();
    t.output.resize(base + static_cast<std::size_t>(tokens.tokens) * h, 0.0f);
    t.input_gradient.resize(t.output.size(), 0.0f);
    for (std::size_t tok = 0; tok < static_cast<std::size_t>(tokens.tokens); ++tok)
      for (std::size_t j = 0; j < k; ++j) {
        const std::int32_t e = tokens.experts[tok * k + j];
        const bool keep = !gradient_at[e].empty();
        if (keep && dw[e].empty()) dw[e].assign(per_expert, 0.0f);
        pass.run(&in.x[r][tok * h], tokens.weights[tok * k + j], &in.d_out[r][tok * h], in.w13[e], in.w2[e],
                 &t.output[base + tok * h], &t.input_gradient[base + tok * h], keep ? dw[e].data() : nullptr,
                 keep ? dw[e].data() + h * 2 * f : nullptr);
      }
  }
  for (int e = 0; e < dims.experts; ++e)
    for (std::size_t r : gradient_at[e])
      if (!dw[e].empty()) std::copy(dw[e].begin(), dw[e].end(), t.weight_gradient.begin() + static_cast<std::ptrdiff_t>(r * per_expert));
  return t;
}

double cpu_reference_cost(const TokenLayout& layout, const LayerDims& dims) {
  double copies = 0.0;
  for (int r = 0; r < layout.num_ranks(); ++r) copies += static_cast<double>(layout.tokens(r).tokens) * layout.top_k();
  // Per copy: 3 H F forward, 3 H F backward data, at most 3 H F weight gradients.
  return copies * 9.0 * dims.hidden * dims.ffn;
}

double worst_error(std::initializer_list<double> errors) {
  double worst = 0.0;
  for (double e : errors) {
    if (std::isnan(e)) return e;
    worst = std::max(worst, e);
  }
  return worst;
}

namespace {

// ||out - ref|| / ||ref|| over n values; for a zero reference, `zero_ref` when out is zero too,
// else infinity.
double range_error(const float* out, const float* ref, std::size_t n, double zero_ref) {
  double diff = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(out[i]) || !std::isfinite(ref[i])) return std::numeric_limits<double>::quiet_NaN();
    const double d = static_cast<double>(out[i]) - ref[i];
    diff += d * d;
    norm += static_cast<double>(ref[i]) * ref[i];
  }
  if (norm > 0.0) return std::sqrt(diff / norm);
  return diff == 0.0 ? zero_ref : std::numeric_limits<double>::infinity();
}

constexpr double NAN_ = std::numeric_limits<double>::quiet_NaN();

}  // namespace

double relative_error(const std::vector<float>& out, const std::vector<float>& ref) {
  if (out.size() != ref.size()) return std::numeric_limits<double>::quiet_NaN();
  return range_error(out.data(), ref.data(), out.size(), NAN_);
}

double max_row_error(const std::vector<float>& out, const std::vector<float>& ref, std::size_t row_length) {
  if (out.size() != ref.size() || row_length == 0 || out.size() % row_length != 0) return std::numeric_limits<double>::quiet_NaN();
  double worst = 0.0;
  for (std::size_t at = 0; at < out.size(); at += row_length) {
    const double e = range_error(out.data() + at, ref.data() + at, row_length, 0.0);
    if (std::isnan(e)) return e;
    worst = std::max(worst, e);
  }
  return worst;
}

NumericsError layer_error(const LayerTensors& out, const LayerTensors& ref, const LayerDims& dims) {
  const std::size_t h = dims.hidden, f = dims.ffn, per_expert = h * 2 * f + f * h;
  NumericsError e;
  // An expert without rows has a zero weight gradient: exact zeros pass there, and only there.
  const double weights = out.weight_gradient.size() != ref.weight_gradient.size()
                             ? NAN_
                             : range_error(out.weight_gradient.data(), ref.weight_gradient.data(), ref.weight_gradient.size(), 0.0);
  e.relative = worst_error({relative_error(out.output, ref.output), relative_error(out.input_gradient, ref.input_gradient), weights});
  e.max_row = worst_error({max_row_error(out.output, ref.output, h), max_row_error(out.input_gradient, ref.input_gradient, h)});
  if (out.weight_gradient.size() != ref.weight_gradient.size() || ref.weight_gradient.size() % per_expert != 0) {
    e.max_row = std::numeric_limits<double>::quiet_NaN();
    return e;
  }
  // dw13 rows hold 2F values, dw2 rows H: each expert's block split at its dw2.
  for (std::size_t at = 0; at < ref.weight_gradient.size(); at += per_expert) {
    auto slice = [&](const std::vector<float>& v, std::size_t from, std::size_t n) {
      return std::vector<float>(v.begin() + static_cast<std::ptrdiff_t>(at + from), v.begin() + static_cast<std::ptrdiff_t>(at + from + n));
    };
    e.max_row = worst_error({e.max_row, max_row_error(slice(out.weight_gradient, 0, h * 2 * f), slice(ref.weight_gradient, 0, h * 2 * f), 2 * f),
                             max_row_error(slice(out.weight_gradient, h * 2 * f, f * h), slice(ref.weight_gradient, h * 2 * f, f * h), h)});
  }
  return e;
}

}  // namespace comet
