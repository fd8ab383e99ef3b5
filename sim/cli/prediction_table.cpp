#include "prediction_table.hpp"

#include <fmt/format.h>

#include <cmath>

namespace comet {
namespace {

std::string percent(double error) { return std::isfinite(error) ? fmt::format("{:+.1f}", error * 100.0) : "-"; }

}  // namespace

ErrorSummary print_prediction_table(const std::string& engine, const CostModel& model,
                                    const std::vector<PolicyPrediction>& rows) {
  fmt::print("# predicted ({} engine, cost model {}) against measured; error = (predicted - measured) / measured\n", engine,
             model.description());
  fmt::print("# layer: first op start to last op end; op classes: sum of op durations over every GPU\n");
  fmt::print("{:<12} {:>9} {:>9} {:>7}", "partition", "pred", "meas", "err");
  for (std::size_t c = 0; c < NUM_OP_CLASSES; ++c) fmt::print(" {:>16}", to_string(static_cast<OpClass>(c)));
  fmt::print("\n{:<12} {:>9} {:>9} {:>7}", "#", "ms", "ms", "%");
  for (std::size_t c = 0; c < NUM_OP_CLASSES; ++c) fmt::print(" {:>16}", "pred/meas ms, %");
  fmt::print("\n");
  std::vector<double> layer_errors;
  std::array<std::vector<double>, NUM_OP_CLASSES> class_errors;
  for (const PolicyPrediction& row : rows) {
    const PredictionComparison& c = row.comparison;
    fmt::print("{:<12} {:>9.3f} {:>9.3f} {:>7}", row.partition, c.layer.predicted_s * 1e3, c.layer.measured_s * 1e3,
               percent(c.layer.error()));
    layer_errors.push_back(c.layer.error());
    for (std::size_t k = 0; k < NUM_OP_CLASSES; ++k) {
      if (c.ops_in_class[k] == 0) {
        fmt::print(" {:>16}", "-");
        continue;
      }
      class_errors[k].push_back(c.by_class[k].error());
      fmt::print(" {:>16}", fmt::format("{:.2f}/{:.2f} {}", c.by_class[k].predicted_s * 1e3, c.by_class[k].measured_s * 1e3,
                                        percent(c.by_class[k].error())));
    }
    fmt::print("\n");
  }
  const ErrorSummary layer = summarize_errors(layer_errors);
  fmt::print("# layer time |error| over {} policies: median {:.1f}%, max {:.1f}%\n", layer.count, layer.median_abs * 100.0,
             layer.max_abs * 100.0);
  for (std::size_t k = 0; k < NUM_OP_CLASSES; ++k) {
    const ErrorSummary s = summarize_errors(class_errors[k]);
    if (s.count > 0)
      fmt::print("# {} |error|: median {:.1f}%, max {:.1f}%\n", to_string(static_cast<OpClass>(k)), s.median_abs * 100.0,
                 s.max_abs * 100.0);
  }
  return layer;
}

}  // namespace comet
