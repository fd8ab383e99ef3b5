// The charts of the HTML reports, each a function from plain data to one inline <svg>:
// stacked horizontal bars (time per policy, bytes per tier), line charts (sweeps), a Gantt
// chart (the critical GPU's compute and communication) and a heat map (link utilisation).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace comet {

/// Horizontal bars, one per label, each stacked from one segment per series.
struct StackedBars {
  std::string title;
  std::string unit;                                         ///< of the values, shown on the axis
  std::vector<std::string> labels;                          ///< one bar each, top to bottom
  std::vector<std::pair<std::string, std::string>> series;  ///< name, colour
  std::vector<std::vector<double>> values;                  ///< [label][series], >= 0
};
std::string stacked_bar_chart(const StackedBars& chart);

/// y over x, one polyline per series. x is numeric (`x_values`, optionally log scale) or,
/// when `x_values` is empty, categorical (evenly spaced `x_labels`).
struct LineChart {
  std::string title;
  std::string x_title;
  std::string y_unit;
  std::vector<std::string> x_labels;
  std::vector<double> x_values;
  bool log_x = false;
  std::vector<std::pair<std::string, std::vector<double>>> series;  ///< name, y per x (NaN: none)
};
std::string line_chart(const LineChart& chart);

/// Rows of time intervals (seconds), drawn on one shared time axis in milliseconds.
struct GanttBar {
  double start_s = 0.0, end_s = 0.0;
  std::string category;  ///< picks the colour (see `categories`)
  std::string tooltip;
};
struct GanttRow {
  std::string label;
  std::vector<GanttBar> bars;
  bool starts_group = false;  ///< draw a separator above (e.g. a new policy)
};
struct GanttChart {
  std::string title;
  std::vector<GanttRow> rows;
  std::vector<std::pair<std::string, std::string>> categories;  ///< name, colour (legend order)
};
std::string gantt_chart(const GanttChart& chart);

/// A grid of values in [0, 1] (shown as percentages), white to red.
struct HeatMap {
  std::string title;
  std::vector<std::string> row_labels;
  std::vector<std::string> column_labels;
  std::vector<std::vector<double>> values;  ///< [row][column]
};
std::string heat_map(const HeatMap& chart);

}  // namespace comet
