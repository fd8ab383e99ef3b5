// The numerics checks of `comet validate`: the error measures, and the CPU reference of the
// layer's forward and backward against the formula written out and against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "hash_uniform.hpp"
#include "numerics.hpp"
#include "token_layout.hpp"

namespace comet {
namespace {

constexpr float NaNf = std::numeric_limits<float>::quiet_NaN();

TEST(Numerics, RelativeErrorIsNanForNonFiniteOrZeroReference) {
  EXPECT_NEAR(relative_error({1.0f, 2.0f}, {1.0f, 2.0f}), 0.0, 1e-12);
  EXPECT_NEAR(relative_error({1.1f, 2.0f}, {1.0f, 2.0f}), 0.1 / std::sqrt(5.0), 1e-6);
  EXPECT_TRUE(std::isnan(relative_error({NaNf, 2.0f}, {1.0f, 2.0f})));
  EXPECT_TRUE(std::isnan(relative_error({0.0f, 0.0f}, {0.0f, 0.0f})));  // never "pass" on zeros
  EXPECT_TRUE(std::isnan(relative_error({1.0f}, {1.0f, 2.0f})));
  EXPECT_FALSE(relative_error({std::numeric_limits<float>::infinity()}, {1.0f}) <= 1.0);
}

// One wrong row among many barely moves the global error; the row error names it.
TEST(Numerics, RowErrorSeesOneWrongRowTheGlobalErrorHides) {
  const std::size_t rows = 1000, width = 4;
  std::vector<float> ref(rows * width), out;
  for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = kernels::random_value(5, i, 1.0f) + 2.0f;
  out = ref;
  for (std::size_t i = 0; i < width; ++i) out[7 * width + i] = -ref[7 * width + i];  // row 7 flipped
  EXPECT_LT(relative_error(out, ref), 0.1);
  EXPECT_NEAR(max_row_error(out, ref, width), 2.0, 1e-6);
  out[7 * width] = NaNf;
  EXPECT_TRUE(std::isnan(max_row_error(out, ref, width)));
  // A zero reference row matched exactly is fine (an expert's weight gradient without rows); any
  // value there is an infinite error.
  std::vector<float> zero_ref(2 * width, 0.0f), zero_out(2 * width, 0.0f);
  zero_ref[0] = zero_out[0] = 1.0f;
  EXPECT_EQ(max_row_error(zero_out, zero_ref, width), 0.0);
  zero_out[width] = 1e-3f;
  EXPECT_TRUE(std::isinf(max_row_error(zero_out, zero_ref, width)));
  EXPECT_TRUE(std::isnan(max_row_error(out, ref, 3)));  // rows must tile the tensor
}

// One token, top-1, hidden 2, ffn 1: the reference's output against the formula written out.
TEST(Numerics, CpuReferenceMatchesTheSwigluFormula) {
  RoutingMatrix routing(1, 1);
  routing.at(0, 0) = 1;
  const ExpertPlacement placement("contiguous", 1, {{0}});
  const TokenLayout layout({routing}, placement, 1, 3);
  const LayerDims dims{2, 1, 1, 1};
  const DataSeeds seeds{7};
  const std::vector<float> out = reference_layer(layout, dims, generated_inputs(layout, dims, seeds)).output;
  ASSERT_EQ(out.size(), 2u);
  auto bf = [](float v) {  // bf16 rounding, written independently of numerics.cpp
    return std::ldexp(std::nearbyint(std::ldexp(v, 7 - std::ilogb(v))), std::ilogb(v) - 7);
  };
  auto value = [&](std::uint64_t seed, int i, float scale) { return bf(kernels::random_value(seed, i, scale)); };
  const float x0 = value(seeds.tokens(0), 0, 1.0f), x1 = value(seeds.tokens(0), 1, 1.0f);
  const float s13 = DataSeeds::w13_scale(dims), s2 = DataSeeds::w2_scale(dims);
  // w13 is [2 x 2]: row i = input dim, columns (gate, up).
  const float gate = x0 * value(seeds.w13(0), 0, s13) + x1 * value(seeds.w13(0), 2, s13);
  const float up = x0 * value(seeds.w13(0), 1, s13) + x1 * value(seeds.w13(0), 3, s13);
  const float act = gate / (1.0f + std::exp(-gate)) * up;
  EXPECT_NEAR(out[0], act * value(seeds.w2(0), 0, s2), 1e-6);
  EXPECT_NEAR(out[1], act * value(seeds.w2(0), 1, s2), 1e-6);
}

// The backward is the gradient of L = sum over tokens of out . d_out (the gate weights fixed):
// the reference's input and weight gradients against central differences of its own forward,
// on two ranks whose experts take tokens from both (so a weight gradient sums over ranks).
class ReferenceGradient : public ::testing::Test {
 protected:
  ReferenceGradient() : layout({routing()}, ExpertPlacement("contiguous", 2, {{0}, {0}, {1}, {1}}), 2, 11) {}

  static RoutingMatrix routing() {
    RoutingMatrix r(2, 4);  // 3 tokens per rank, top-2: 6 copies per rank
    const int counts[2][4] = {{2, 1, 2, 1}, {1, 2, 1, 2}};
    for (int s = 0; s < 2; ++s)
      for (int e = 0; e < 4; ++e) r.at(s, e) = counts[s][e];
    return r;
  }

  double loss(const LayerInputs& in) const {
    const LayerTensors t = reference_layer(layout, dims, in);
    double sum = 0.0;
    std::size_t at = 0;
    for (const auto& d_out : in.d_out)
      for (float g : d_out) sum += static_cast<double>(t.output[at++]) * g;
    return sum;
  }

  // Central difference of the loss in `value`, one of `in`'s numbers (restored after).
  double numeric(LayerInputs& in, float* value) const {
    const float eps = 1e-2f, keep = *value;
    *value = keep + eps;
    const double up = loss(in);
    *value = keep - eps;
    const double down = loss(in);
    *value = keep;
    return (up - down) / (2.0 * eps);
  }

  void expect_gradient(double analytic, double finite) const {
    EXPECT_NEAR(analytic, finite, 2e-3 * std::max(1.0, std::abs(finite)));
  }

  const LayerDims dims{6, 4, 2, 4};
  const TokenLayout layout;
};

TEST_F(ReferenceGradient, InputGradientIsTheLossGradient) {
  const LayerInputs in = generated_inputs(layout, dims, DataSeeds{5});
  const LayerTensors t = reference_layer(layout, dims, in);
  std::size_t at = 0;
  for (std::size_t r = 0; r < in.x.size(); ++r)
    for (std::size_t i = 0; i < in.x[r].size(); ++i) {
      LayerInputs copy = in;
      expect_gradient(t.input_gradient[at++], numeric(copy, &copy.x[r][i]));
    }
  EXPECT_EQ(at, t.input_gradient.size());
}

TEST_F(ReferenceGradient, WeightGradientsOfEachRanksFirstExpertAreTheLossGradient) {
  const LayerInputs in = generated_inputs(layout, dims, DataSeeds{5});
  const LayerTensors t = reference_layer(layout, dims, in);
  const std::size_t h = dims.hidden, f = dims.ffn, per_expert = h * 2 * f + f * h;
  ASSERT_EQ(t.weight_gradient.size(), 2 * per_expert);
  for (int rank = 0; rank < 2; ++rank) {
    const int e = layout.slot_experts(rank).front();
    const float* dw = t.weight_gradient.data() + rank * per_expert;
    for (std::size_t i = 0; i < h * 2 * f; ++i) {
      LayerInputs copy = in;
      expect_gradient(dw[i], numeric(copy, &copy.w13[e][i]));
    }
    for (std::size_t i = 0; i < f * h; ++i) {
      LayerInputs copy = in;
      expect_gradient(dw[h * 2 * f + i], numeric(copy, &copy.w2[e][i]));
    }
  }
}

TEST_F(ReferenceGradient, LayerErrorTakesTheWorstTensorAndRow) {
  const LayerTensors ref = reference_layer(layout, dims, generated_inputs(layout, dims, DataSeeds{5}));
  EXPECT_EQ(layer_error(ref, ref, dims).relative, 0.0);
  EXPECT_EQ(layer_error(ref, ref, dims).max_row, 0.0);
  LayerTensors bad = ref;
  bad.weight_gradient.back() = NaNf;  // the last rank's dw2: a NaN anywhere fails
  EXPECT_TRUE(std::isnan(layer_error(bad, ref, dims).relative));
  bad = ref;
  bad.input_gradient[0] *= 3.0f;
  const NumericsError e = layer_error(bad, ref, dims);
  EXPECT_GT(e.relative, 0.0);
  EXPECT_GT(e.max_row, e.relative);  // the changed row is worse than the whole tensor
}

}  // namespace
}  // namespace comet
