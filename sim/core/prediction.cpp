#include "prediction.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "median.hpp"

namespace comet {

std::string_view to_string(OpClass c) {
  switch (c) {
    case OpClass::EXPERT_FORWARD: return "expert_forward";
    case OpClass::DATA_GRADIENT: return "data_gradient";
    case OpClass::WEIGHT_GRADIENT: return "weight_gradient";
    case OpClass::PERMUTE: return "permute";
    case OpClass::ALL_TO_ALL: return "all_to_all";
    case OpClass::OTHER: return "other";
  }
  return "?";
}

OpClass op_class_of(const Op& op) {
  switch (op.kind) {
    case OpKind::EXPERT_GEMM: return op.tags.direction == Direction::FORWARD ? OpClass::EXPERT_FORWARD : OpClass::DATA_GRADIENT;
    case OpKind::EXPERT_WGRAD: return OpClass::WEIGHT_GRADIENT;
    case OpKind::PERMUTE:
    case OpKind::UNPERMUTE: return OpClass::PERMUTE;
    case OpKind::ALL_TO_ALL: return OpClass::ALL_TO_ALL;
    default: return OpClass::OTHER;
  }
}

double PredictedMeasured::error() const {
  if (measured_s == 0.0) return predicted_s == 0.0 ? 0.0 : std::numeric_limits<double>::quiet_NaN();
  return (predicted_s - measured_s) / measured_s;
}

PredictionComparison compare_timelines(const Plan& plan, const Timeline& predicted, const Timeline& measured) {
  if (predicted.ops.size() != plan.ops().size() || measured.ops.size() != plan.ops().size())
    throw std::invalid_argument("a timeline does not have the plan's ops");
  PredictionComparison out;
  out.layer = {predicted.makespan_s(), measured.makespan_s()};
  for (const Op& op : plan.ops()) {
    const std::size_t c = static_cast<std::size_t>(op_class_of(op));
    out.by_class[c].predicted_s += predicted.ops[op.id].end_s - predicted.ops[op.id].start_s;
    out.by_class[c].measured_s += measured.ops[op.id].end_s - measured.ops[op.id].start_s;
    ++out.ops_in_class[c];
  }
  return out;
}

namespace {
nlohmann::ordered_json pair_json(const PredictedMeasured& p) {
  nlohmann::ordered_json j;
  j["predicted_s"] = p.predicted_s;
  j["measured_s"] = p.measured_s;
  const double e = p.error();
  j["error"] = std::isfinite(e) ? nlohmann::ordered_json(e) : nlohmann::ordered_json(nullptr);
  return j;
}
}  // namespace

nlohmann::ordered_json prediction_json(const PredictionComparison& c) {
  nlohmann::ordered_json j;
  j["layer"] = pair_json(c.layer);
  nlohmann::ordered_json classes;
  for (std::size_t k = 0; k < NUM_OP_CLASSES; ++k)
    if (c.ops_in_class[k] > 0) classes[std::string(to_string(static_cast<OpClass>(k)))] = pair_json(c.by_class[k]);
  j["by_class"] = classes;
  return j;
}

ErrorSummary summarize_errors(const std::vector<double>& errors) {
  std::vector<double> magnitudes;
  for (double e : errors)
    if (std::isfinite(e)) magnitudes.push_back(std::abs(e));
  if (magnitudes.empty()) return {};
  return {static_cast<int>(magnitudes.size()), median(magnitudes), *std::max_element(magnitudes.begin(), magnitudes.end())};
}

}  // namespace comet
