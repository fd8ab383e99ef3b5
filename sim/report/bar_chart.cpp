#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "svg.hpp"
#include "svg_charts.hpp"

namespace comet {

std::string stacked_bar_chart(const StackedBars& chart) {
  constexpr double LABEL_WIDTH = 300, PLOT_WIDTH = 560, BAR = 18, GAP = 6, TOP = 54, RIGHT = 90;
  double total_max = 0.0;
  for (const std::vector<double>& segments : chart.values)
    total_max = std::max(total_max, std::accumulate(segments.begin(), segments.end(), 0.0));
  const std::vector<double> ticks = nice_ticks(total_max);
  const double scale = PLOT_WIDTH / ticks.back();
  const double plot_height = static_cast<double>(chart.labels.size()) * (BAR + GAP);
  Svg svg(LABEL_WIDTH + PLOT_WIDTH + RIGHT, TOP + plot_height + 40, chart.title);
  svg.text(0, 16, chart.title, "start", 14, R"(font-weight="bold")");
  svg.legend(LABEL_WIDTH, 38, chart.series, PLOT_WIDTH);
  const double axis_y = TOP + plot_height;
  svg.x_axis(ticks, LABEL_WIDTH, scale, TOP - 4, axis_y, PLOT_WIDTH, chart.unit);
  for (std::size_t row = 0; row < chart.labels.size(); ++row) {
    const double y = TOP + static_cast<double>(row) * (BAR + GAP);
    svg.text(LABEL_WIDTH - 8, y + BAR - 5, chart.labels[row], "end", 12);
    double x = LABEL_WIDTH, total = 0.0;
    for (std::size_t s = 0; s < chart.series.size() && s < chart.values[row].size(); ++s) {
      const double value = chart.values[row][s];
      svg.rect(x, y, value * scale, BAR, chart.series[s].second,
               fmt::format("{}: {}: {} {}", chart.labels[row], chart.series[s].first, tick_label(value), chart.unit));
      x += value * scale;
      total += value;
    }
    svg.text(x + 6, y + BAR - 5, tick_label(total), "start", 11);
  }
  svg.line(LABEL_WIDTH, TOP - 4, LABEL_WIDTH, axis_y, "#333333");
  return svg.str();
}

}  // namespace comet
