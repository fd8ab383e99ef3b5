#include "cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace comet {

std::string_view to_string(ExpertPass pass) {
  switch (pass) {
    case ExpertPass::FORWARD: return "forward";
    case ExpertPass::DATA_GRADIENT: return "data_gradient";
    case ExpertPass::WEIGHT_GRADIENT: return "weight_gradient";
  }
  return "?";
}

std::string CostModelSource::value(const std::string& key) const {
  for (const auto& [k, v] : provenance)
    if (k == key) return v;
  return "";
}

CostModel CostModel::defaults_for(const std::string& gpu_model) {
  CostModel model;
  model.gpu_model = gpu_model;
  if (gpu_model == "h100-sxm") return model;
  if (gpu_model == "h200") {
    model.hbm_Bps = 4.8e12;  // same tensor cores as H100 SXM, faster and larger HBM3e
    return model;
  }
  throw std::invalid_argument("no cost-model defaults for GPU '" + gpu_model + "'");
}

double interpolate_log_log(const MeasuredCurve& curve, double x) {
  if (curve.empty()) return 0.0;
  if (x <= curve.front().first) return curve.front().second;
  if (x >= curve.back().first) return curve.back().second * x / curve.back().first;
  const auto upper = std::lower_bound(curve.begin(), curve.end(), x,
                                      [](const std::pair<double, double>& p, double v) { return p.first < v; });
  const auto lower = upper - 1;
  const double t = std::log(x / lower->first) / std::log(upper->first / lower->first);
  return lower->second * std::pow(upper->second / lower->second, t);
}

double interpolate_log_m(const std::vector<std::pair<double, double>>& table, double m) {
  if (m <= table.front().first) return table.front().second;
  if (m >= table.back().first) return table.back().second;
  for (std::size_t i = 1; i < table.size(); ++i) {
    if (m > table[i].first) continue;
    const double x0 = std::log2(table[i - 1].first), x1 = std::log2(table[i].first);
    const double t = (std::log2(m) - x0) / (x1 - x0);
    return table[i - 1].second + t * (table[i].second - table[i - 1].second);
  }
  return table.back().second;
}

double CostModel::gemm_efficiency(double m) const { return interpolate_log_m(gemm_efficiency_by_m, m); }

double CostModel::gemm_time_s(double m, double n, double k, double compute_sm_fraction) const {
  if (m <= 0.0) return 0.0;
  const double share = std::clamp(compute_sm_fraction, 0.01, 1.0);
  const double compute = 2.0 * m * n * k / (peak_flops * gemm_efficiency(m) * share);
  const double bytes = 2.0 * (m * k + k * n + m * n);  // bf16 A and B read once, C written
  return std::max(compute, bytes / hbm_Bps) + launch_overhead_s;
}

double CostModel::memory_time_s(double bytes) const {
  return bytes <= 0.0 ? 0.0 : bytes / hbm_Bps + launch_overhead_s;
}

const ShapeCosts* CostModel::shape(int hidden, int ffn) const {
  for (const ShapeCosts& s : shapes)
    if (s.hidden == hidden && s.ffn == ffn) return &s;
  return nullptr;
}

const std::optional<LinearCost>& CostModel::kernel_cost(OpKind kind, Direction direction, int hidden, int ffn) const {
  const std::size_t i = kernel_cost_index(kind, direction);
  if (const ShapeCosts* s = shape(hidden, ffn); s && s->kernels[i]) return s->kernels[i];
  return kernel_costs[i];
}

std::size_t fused_launch(ExpertPass pass, int stage) {
  if (pass == ExpertPass::WEIGHT_GRADIENT || stage < 0 || stage > 1)
    throw std::invalid_argument("fused_launch: the forward or data gradient, stage 0 or 1");
  return (pass == ExpertPass::FORWARD ? 0 : 2) + static_cast<std::size_t>(stage);
}

std::string_view fused_launch_name(std::size_t launch) {
  static constexpr std::string_view NAMES[NUM_FUSED_LAUNCHES] = {"forward_gate_up", "forward_down", "data_gradient_down",
                                                                 "data_gradient_gate_up"};
  return NAMES[launch];
}

double CostModel::fused_scale(int blocks, std::size_t launch, double m, int hidden, int ffn) const {
  const ShapeCosts* s = shape(hidden, ffn);
  if (!s || s->fused.empty()) return 1.0;
  const FusedScales* nearest = &s->fused.front();
  for (const FusedScales& f : s->fused)  // by increasing B: a tie keeps the smaller
    if (std::abs(f.blocks - blocks) < std::abs(nearest->blocks - blocks)) nearest = &f;
  return nearest->by_m[launch].empty() ? 1.0 : interpolate_log_m(nearest->by_m[launch], m);
}

double CostModel::expert_time_s(ExpertPass pass, double m, int hidden, int ffn) const {
  if (m <= 0.0) return 0.0;
  const double h = hidden, f = ffn;
  // Bytes the pass cannot avoid: the three H x F bf16 weight matrices read once (the weight
  // gradient reads and writes its accumulated gradients instead), plus its activations.
  const double weights = 3.0 * h * f * 2.0;
  const double floor_bytes = pass == ExpertPass::WEIGHT_GRADIENT ? 2.0 * weights + m * (2.0 * h + 3.0 * f) * 2.0
                                                                 : weights + m * (2.0 * h + 3.0 * f) * 2.0;
  const double floor = floor_bytes / hbm_Bps;
  if (const ShapeCosts* table = shape(hidden, ffn); table && !table->seconds_by_m[static_cast<std::size_t>(pass)].empty())
    return std::max(floor, interpolate_log_log(table->seconds_by_m[static_cast<std::size_t>(pass)], m));
  // Datasheet: forward = gate+up (M x 2F x H) and down (M x H x F); the data gradient and the
  // weight gradient each the same flops again.
  return std::max(floor, gemm_time_s(m, 2 * f, h) + gemm_time_s(m, h, f));
}

std::string CostModel::description() const {
  if (source.file.empty() && source.provenance.empty()) return gpu_model + " datasheet defaults";
  if (source.value("date").empty()) return gpu_model + " from " + source.file + " (no measurement provenance)";
  std::string text = gpu_model + ", calibrated";
  if (const std::string date = source.value("date"); !date.empty()) text += " " + date;
  if (const std::string name = source.value("gpu_name"); !name.empty()) text += " on " + name;
  if (!source.file.empty()) text += " (" + source.file + ")";
  return text;
}

CostModel CostModel::with_transfer_blocks(int blocks) const {
  CostModel capped = *this;
  capped.transfer_cap_Bps = blocks > 0 ? blocks * fused_block_Bps : 0.0;
  return capped;
}

}  // namespace comet
