#include "result_fields.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace comet {

std::string policy_label(const Result& r) {
  return fmt::format("{} / {} / {}", r.at("placement").get<std::string>(), r.at("partition").get<std::string>(),
                     r.at("a2a").get<std::string>());
}

bool is_baseline(const Result& r) { return policy_label(r) == "contiguous / none / direct"; }

double cross_node_bytes(const Result& r) {
  const auto& tiers = r.at("bytes_by_tier");
  return tiers.at("leaf").get<double>() + tiers.at("spine").get<double>() + tiers.at("core").get<double>();
}

double layer_count(const Result& r) {
  return std::max(1.0, r.value("layers", 1.0) * r.value("steps", 1.0));
}

const std::vector<ReportMetric>& report_metrics() {
  static const std::vector<ReportMetric> metrics{
      {"layer time", "ms", 3, true, [](const Result& r) { return r.at("layer_time_s").get<double>() * 1e3; }},
      {"compute", "ms", 3, true,
       [](const Result& r) { return r.at("compute_s").get<double>() / layer_count(r) * 1e3; }},
      {"exposed comm", "ms", 3, true,
       [](const Result& r) { return r.at("exposed_comm_s").get<double>() / layer_count(r) * 1e3; }},
      {"imbalance", "ms", 3, true,
       [](const Result& r) { return r.value("imbalance_s", 0.0) / layer_count(r) * 1e3; }},
      {"overlap", "ratio", 3, true, [](const Result& r) { return r.at("overlap_ratio").get<double>(); }},
      {"cross-node", "GB", 2, true, [](const Result& r) { return cross_node_bytes(r) / 1e9; }},
      {"max link", "%", 1, true, [](const Result& r) { return r.at("max_link_mean_utilization").get<double>() * 100; }},
      {"speedup", "x", 3, true, [](const Result& r) { return r.at("speedup_vs_baseline").get<double>(); }},
      {"GPU idle", "%", 1, false, [](const Result& r) { return r.at("idle_fraction").get<double>() * 100; }},
  };
  return metrics;
}

std::vector<TableColumn> metric_columns() {
  std::vector<TableColumn> columns;
  for (const ReportMetric& m : report_metrics())
    if (m.in_table) columns.push_back({m.title, m.unit, true});
  return columns;
}

std::vector<std::string> metric_cells(const Result& r) {
  std::vector<std::string> cells;
  for (const ReportMetric& m : report_metrics())
    if (m.in_table) cells.push_back(fmt::format("{:.{}f}", m.value(r), m.decimals));
  return cells;
}

}  // namespace comet
