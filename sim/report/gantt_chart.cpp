#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "svg.hpp"
#include "svg_charts.hpp"

namespace comet {

std::string gantt_chart(const GanttChart& chart) {
  constexpr double LABEL_WIDTH = 300, PLOT_WIDTH = 640, ROW = 20, GAP = 4, RIGHT = 20;
  double start = 0.0, end = 0.0;
  bool any = false;
  for (const GanttRow& row : chart.rows)
    for (const GanttBar& bar : row.bars) {
      start = any ? std::min(start, bar.start_s) : bar.start_s;
      end = any ? std::max(end, bar.end_s) : bar.end_s;
      any = true;
    }
  const std::vector<double> ticks = nice_ticks((end - start) * 1e3);
  const double scale = PLOT_WIDTH / ticks.back();  // pixels per millisecond
  std::map<std::string, std::string> color_of(chart.categories.begin(), chart.categories.end());
  const double legend_height = 18.0 * Svg::legend_rows(chart.categories, PLOT_WIDTH);
  const double top = 30 + legend_height + 6;
  const double plot_height = static_cast<double>(chart.rows.size()) * (ROW + GAP);
  Svg svg(LABEL_WIDTH + PLOT_WIDTH + RIGHT, top + plot_height + 42, chart.title);
  svg.text(0, 16, chart.title, "start", 14, R"(font-weight="bold")");
  svg.legend(LABEL_WIDTH, 38, chart.categories, PLOT_WIDTH);
  const double axis_y = top + plot_height;
  svg.x_axis(ticks, LABEL_WIDTH, scale, top - 2, axis_y, PLOT_WIDTH, "time (ms)");
  for (std::size_t r = 0; r < chart.rows.size(); ++r) {
    const GanttRow& row = chart.rows[r];
    const double y = top + static_cast<double>(r) * (ROW + GAP);
    if (row.starts_group && r > 0) svg.line(0, y - GAP / 2, LABEL_WIDTH + PLOT_WIDTH, y - GAP / 2, "#999999");
    svg.text(LABEL_WIDTH - 8, y + ROW - 6, row.label, "end", 12);
    svg.rect(LABEL_WIDTH, y, PLOT_WIDTH, ROW, "#f6f6f6");
    for (const GanttBar& bar : row.bars) {
      const auto color = color_of.find(bar.category);
      // At least half a pixel wide, so that short ops stay visible.
      svg.rect(LABEL_WIDTH + (bar.start_s - start) * 1e3 * scale, y,
               std::max(0.5, (bar.end_s - bar.start_s) * 1e3 * scale), ROW,
               color == color_of.end() ? "#888888" : color->second, bar.tooltip);
    }
  }
  svg.line(LABEL_WIDTH, top - 2, LABEL_WIDTH, axis_y, "#333333");
  return svg.str();
}

}  // namespace comet
