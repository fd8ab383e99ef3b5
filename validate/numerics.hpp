// Correctness of a measured layer: relative error against a reference, where NaN or infinity
// anywhere never passes (outputs are poisoned before each run, so an op that did not write
// shows up as NaN, and a check on zeros cannot pass by accident: references are never zero).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "layer_data.hpp"
#include "token_layout.hpp"

namespace comet {

/// ||out - ref|| / ||ref||; NaN when either holds a non-finite value, sizes differ or ref is zero.
double relative_error(const std::vector<float>& out, const std::vector<float>& ref);

/// The largest of several errors, NaN when any is NaN (std::max would keep a finite first value:
/// a NaN gradient would then pass).
double worst_error(std::initializer_list<double> errors);

/// The layer output of every rank (rank after rank), computed on the CPU in fp32 from the same
/// bf16 inputs and weights the GPUs used.
std::vector<float> cpu_reference_output(const TokenLayout& layout, const LayerDims& dims, const DataSeeds& seeds);

/// Multiply-adds cpu_reference_output would take (callers skip it when too large).
double cpu_reference_cost(const TokenLayout& layout, const LayerDims& dims);

/// Tolerances: bf16 intermediates against fp32 math, and two bf16 pipelines against each other.
inline constexpr double CPU_REFERENCE_TOLERANCE = 2e-2;
inline constexpr double POLICY_TOLERANCE = 2e-2;

}  // namespace comet
