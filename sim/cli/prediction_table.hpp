// The predicted-vs-measured table of `comet validate` (measuring here) and `comet validate
// --measured FILE` (predicting a recorded measurement): one row per policy, layer time and each
// op class predicted / measured / signed error, then the summary over policies.
#pragma once

#include <string>
#include <vector>

#include "cost_model.hpp"
#include "prediction.hpp"

namespace comet {

struct PolicyPrediction {
  std::string partition;
  PredictionComparison comparison;
};

/// Prints the table with a `#` preamble naming the engine and the cost model; returns the
/// summary of the layer-time errors.
ErrorSummary print_prediction_table(const std::string& engine, const CostModel& model,
                                    const std::vector<PolicyPrediction>& rows);

}  // namespace comet
