// report.md and report.html of `comet compare`: the ranking table, the "what to pick and why"
// paragraph, and (HTML only) the charts: compute vs exposed communication per policy, bytes per
// tier per placement, the critical GPU's Gantt chart for the best policy and the baseline, and
// a heat map of the most loaded links.
#pragma once

#include <string>
#include <vector>

#include "gpu_activity.hpp"
#include "result_fields.hpp"
#include "svg_charts.hpp"
#include "text_table.hpp"

namespace comet {

struct ComparedPolicy {
  Result result;                          ///< the `comet simulate --json` object, plus "rank"
  std::vector<ActivityBar> critical_gpu;  ///< its critical GPU's activity, for the Gantt chart
  std::string trace_file;                 ///< its trace file name, empty when none was written
};

struct CompareReport {
  std::string scenario;                 ///< name, for titles
  std::vector<std::string> parameters;  ///< one line each: scenario, engine, policies compared
  std::vector<ComparedPolicy> ranked;   ///< best first
  ComparedPolicy baseline;              ///< contiguous / none / direct (also in `ranked` when compared)
  HeatMap busiest_links;                ///< rows: policies as ranked; columns: links
};

/// "trace-topology_fixed-4_direct.json": placement_partition_a2a, ':' written as '-'.
std::string trace_file_name(const Result& result);

/// rank, placement, partition, a2a, then the report metrics.
Table ranking_table(const std::vector<ComparedPolicy>& ranked);

std::string compare_markdown(const CompareReport& report);
std::string compare_html(const CompareReport& report);

}  // namespace comet
