// Correctness of a measured layer: errors against a reference, where NaN or infinity anywhere
// never passes (outputs are poisoned before each run, so an op that did not write shows up as
// NaN, and a check on zeros cannot pass by accident: references are never zero).
//
// The CPU reference is the layer's forward and backward in fp32 from the same bf16 inputs and
// weights the GPUs used: the output, the input gradient and the weight gradients of every rank's
// first local expert (what the GPUs report: RealMeasurement). The GPUs round their intermediates
// (gate+up, SwiGLU, expert outputs, gradients) to bf16, the reference does not.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "layer_data.hpp"
#include "token_layout.hpp"

namespace comet {

/// What one layer run produces, on the host: every rank's output and input gradient [tokens, H]
/// (rank after rank) and every rank's first local expert's dw13 [H, 2F] then dw2 [F, H] (rank
/// after rank), all row-major.
struct LayerTensors {
  std::vector<float> output, input_gradient, weight_gradient;
};

/// The layer's inputs: per rank the tokens x and the output gradient [tokens, H]; per expert
/// w13 [H, 2F] and w2 [F, H] (empty for an expert no token is routed to).
struct LayerInputs {
  std::vector<std::vector<float>> x, d_out;
  std::vector<std::vector<float>> w13, w2;
};

/// The random data the GPUs generate (layer_buffers.hpp, same seeds), rounded to bf16 as they hold it.
LayerInputs generated_inputs(const TokenLayout& layout, const LayerDims& dims, const DataSeeds& seeds);

/// Forward (out = sum_k g_k W2_k^T SwiGLU(W13_k^T x)) and backward (the gate weights fixed: dy =
/// g d_out, back through W2, SwiGLU and W13; dx sums a token's copies; dW13 = X^T dH13,
/// dW2 = A^T dY over each expert's rows), in fp32.
LayerTensors reference_layer(const TokenLayout& layout, const LayerDims& dims, const LayerInputs& inputs);

/// Multiply-adds generated_inputs + reference_layer would take (callers skip it when too large).
double cpu_reference_cost(const TokenLayout& layout, const LayerDims& dims);

/// ||out - ref|| / ||ref||; NaN when either holds a non-finite value, sizes differ or the
/// reference is zero (a check on zeros never passes).
double relative_error(const std::vector<float>& out, const std::vector<float>& ref);

/// The largest over rows of `row_length` values of the rows' relative errors (as relative_error,
/// but a zero reference row matched by a zero row counts 0: weight-gradient rows may be zero).
/// A global relative error can hide a few wrong rows (one token routed wrongly among thousands);
/// this cannot.
double max_row_error(const std::vector<float>& out, const std::vector<float>& ref, std::size_t row_length);

/// The largest of several errors, NaN when any is NaN (std::max would keep a finite first value:
/// a NaN gradient would then pass).
double worst_error(std::initializer_list<double> errors);

/// The worst global and the worst per-row error over output, input gradient and weight gradients.
struct NumericsError {
  double relative = 0.0;
  double max_row = 0.0;
};
NumericsError layer_error(const LayerTensors& out, const LayerTensors& ref, const LayerDims& dims);

/// Tolerances: bf16 intermediates against fp32 math, and two bf16 pipelines against each other;
/// per row (a row has H or 2F values, so its error is noisier than the whole tensor's).
inline constexpr double CPU_REFERENCE_TOLERANCE = 2e-2;
inline constexpr double POLICY_TOLERANCE = 2e-2;
inline constexpr double ROW_TOLERANCE = 5e-2;

}  // namespace comet
