// The fit of `comet calibrate`: measured Timelines of calibration Plans -> CostModel parameters.
// Host code (no GPU): CI checks it recovers known parameters from synthetic measurements.
//
//   kernel costs   per op kind and direction (permute, unpermute by bytes; gate, non-MoE,
//                  shared experts by flops): seconds = overhead + amount / rate, least squares
//                  on relative residuals (each op weighs 1 / its time^2), overhead >= 0.
//   expert tables  per expert shape (H, F) and pass (forward, data gradient, weight gradient):
//                  each op gives one point (mean rows per expert with work, its time / those
//                  experts); points within 15% in M are merged into one knot (median time), then
//                  every knot is scaled until the table, summed over each op's own experts (their
//                  M differ even under uniform routing), reproduces its ops' measured times; the
//                  ops that ran alone on their GPU decide a knot that has any.
//   all-to-all     when measured (2+ GPUs): NVLink efficiency = bytes of the busiest GPU over
//                  (time - fitted latency) x the GPU link's bandwidth.
#pragma once

#include <vector>

#include "cost_model.hpp"
#include "plan.hpp"
#include "timeline.hpp"

namespace comet {

struct MeasuredRun {
  const Plan* plan = nullptr;
  const Timeline* timeline = nullptr;  ///< measured: op durations are end - start
};

struct CalibrationFit {
  CostModel model;                  ///< `base` with every fitted figure replaced
  std::vector<FitQuality> quality;  ///< per fitted table: residuals of its ops, predicted by `model`
};

/// Fits every figure the runs measured on top of `base` (whose other figures stay).
/// `gpu_link_Bps`: the bandwidth of a GPU's link, to express a measured all-to-all rate as the
/// NVLink efficiency (ignored without all-to-all ops). Throws std::invalid_argument without runs.
CalibrationFit fit_cost_model(const std::vector<MeasuredRun>& runs, const CostModel& base, double gpu_link_Bps);

/// Fits seconds = overhead + amount / rate to (amount, seconds) points by least squares on
/// relative residuals, overhead >= 0 (through the origin when a free fit would go below).
LinearCost fit_linear_cost(const std::vector<std::pair<double, double>>& points);

}  // namespace comet
