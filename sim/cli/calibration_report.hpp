// What `comet calibrate` prints and writes once a fit exists (measured here, or refitted from a
// recorded run with --fit-runs): the `#` preamble with provenance, the fit quality per table
// (median and max relative residual), and the calibration YAML, written atomically.
#pragma once

#include <string>

#include "calibration_fit.hpp"

namespace comet {

void report_calibration(const CalibrationFit& fit, const std::string& preamble, const std::string& output);

}  // namespace comet
