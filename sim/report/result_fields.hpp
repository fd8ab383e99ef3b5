// Reading one result: the `comet simulate --json` object that `comet compare` and
// `comet sweep` keep per policy combination or sweep point. The metrics every report shows
// are defined here once (title, unit, how to read them), for the tables and the charts.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "text_table.hpp"

namespace comet {

using Result = nlohmann::ordered_json;

/// "topology / fixed:4 / direct": placement / partition / a2a.
std::string policy_label(const Result& result);
/// The baseline every speedup is measured against: contiguous / none / direct.
bool is_baseline(const Result& result);
/// All-to-all bytes whose path leaves the node (tiers leaf, spine and core).
double cross_node_bytes(const Result& result);
/// The MoE layers a result covers: layers x steps (compute and exposed are totals over them).
double layer_count(const Result& result);

struct ReportMetric {
  std::string title;  ///< "layer time"
  std::string unit;   ///< "ms"
  int decimals = 3;
  bool in_table = true;  ///< the sweep charts show every metric, the tables these
  std::function<double(const Result&)> value;
};
/// Layer time, compute and exposed communication per layer, overlap ratio, cross-node bytes,
/// most loaded link utilisation, speedup against the baseline, GPU idle share.
const std::vector<ReportMetric>& report_metrics();

/// The columns of report_metrics() shown in tables, and one result's cells.
std::vector<TableColumn> metric_columns();
std::vector<std::string> metric_cells(const Result& result);

}  // namespace comet
