// Predicted against measured: the join of two Timelines of one Plan on op ids (DESIGN.md, "Two
// contracts"). Figures, each predicted and measured, and the signed error (predicted - measured)
// / measured:
//   layer time        first op start to last op end, over all GPUs;
//   per op class      the sum over the class's ops of (end - start), on every GPU.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "plan.hpp"
#include "timeline.hpp"

namespace comet {

/// The `format` of a measured JSON (`comet validate -o`) that `--measured` reads.
inline const std::string MEASURED_FORMAT = "comet-measured/1";

/// The op classes predicted-vs-measured reports.
enum class OpClass : std::uint8_t { EXPERT_FORWARD, DATA_GRADIENT, WEIGHT_GRADIENT, PERMUTE, ALL_TO_ALL, OTHER };
inline constexpr std::size_t NUM_OP_CLASSES = 6;
std::string_view to_string(OpClass op_class);
OpClass op_class_of(const Op& op);

struct PredictedMeasured {
  double predicted_s = 0.0;
  double measured_s = 0.0;
  /// (predicted - measured) / measured; 0 when both are 0, NaN when only measured is 0.
  double error() const;
};

struct PredictionComparison {
  PredictedMeasured layer;
  std::array<PredictedMeasured, NUM_OP_CLASSES> by_class{};
  std::array<int, NUM_OP_CLASSES> ops_in_class{};
};

/// Throws std::invalid_argument when either timeline does not have the plan's ops.
PredictionComparison compare_timelines(const Plan& plan, const Timeline& predicted, const Timeline& measured);

/// {"layer": {predicted_s, measured_s, error}, "by_class": {class: {...}}} (error null when NaN).
nlohmann::ordered_json prediction_json(const PredictionComparison& comparison);

/// Median and largest |error| over a set of errors (NaN entries skipped).
struct ErrorSummary {
  int count = 0;
  double median_abs = 0.0;
  double max_abs = 0.0;
};
ErrorSummary summarize_errors(const std::vector<double>& errors);

}  // namespace comet
