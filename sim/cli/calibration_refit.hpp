// `comet calibrate --fit-runs RUNS.json [-o FILE]`: fits the cost model again from the
// measurements a `comet calibrate --runs` recorded, on any machine (calibration_record.hpp).
#pragma once

#include <string>
#include <vector>

namespace comet {

/// `args`: the words after `comet calibrate`. Returns the exit code; throws InputError.
int run_calibration_refit(const std::vector<std::string>& args);

}  // namespace comet
