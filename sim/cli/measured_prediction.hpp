// `comet validate --measured FILE [--calibration FILE] [--engine E]`: the prediction half of
// validation on any machine. Rebuilds each recorded policy's Plan from the measured JSON (its
// scenario text and the cost model the Plans were built with), refuses a file whose Plans differ
// (plan fingerprint), runs the engine with the prediction cost model and prints predicted
// against measured per policy and op class (prediction_table.hpp).
#pragma once

#include <string>
#include <vector>

namespace comet {

/// `args`: the words after `comet validate`. Returns the exit code; throws InputError for bad
/// input (exit 2).
int run_measured_prediction(const std::vector<std::string>& args);

}  // namespace comet
