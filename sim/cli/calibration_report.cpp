#include "calibration_report.hpp"

#include <fmt/format.h>

#include "atomic_file.hpp"
#include "calibration_file.hpp"

namespace comet {

void report_calibration(const CalibrationFit& fit, const std::string& preamble, const std::string& output) {
  fmt::print("# {}\n", preamble);
  for (const auto& [key, value] : fit.model.source.provenance) fmt::print("# {}: {}\n", key, value);
  fmt::print("# fit quality: |predicted - measured| / measured of the ops each table was fitted from\n");
  fmt::print("{:<44} {:>7} {:>10} {:>10}\n{:<44} {:>7} {:>10} {:>10}\n", "table", "ops", "median", "max", "#", "", "%", "%");
  for (const FitQuality& q : fit.quality)
    fmt::print("{:<44} {:>7} {:>10.2f} {:>10.2f}\n", q.table, q.points, q.median_residual * 100.0, q.max_residual * 100.0);
  write_file_atomically(output, cost_model_yaml(fit.model));
  fmt::print("# wrote {}\n", output);
}

}  // namespace comet
