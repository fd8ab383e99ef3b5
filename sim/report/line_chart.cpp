#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "svg.hpp"
#include "svg_charts.hpp"

namespace comet {
namespace {

// Where point i goes on the x axis, as a fraction of the plot width.
std::vector<double> x_fractions(const LineChart& chart) {
  const std::size_t n = chart.x_labels.size();
  std::vector<double> fractions(n, 0.5);
  if (n < 2) return fractions;
  if (chart.x_values.size() != n) {
    for (std::size_t i = 0; i < n; ++i) fractions[i] = static_cast<double>(i) / static_cast<double>(n - 1);
    return fractions;
  }
  auto position = [&](double x) { return chart.log_x ? std::log(x) : x; };
  const auto [low, high] = std::minmax_element(chart.x_values.begin(), chart.x_values.end());
  const double span = position(*high) - position(*low);
  for (std::size_t i = 0; i < n; ++i)
    fractions[i] = span > 0 ? (position(chart.x_values[i]) - position(*low)) / span : 0.5;
  return fractions;
}

}  // namespace

std::string line_chart(const LineChart& chart) {
  constexpr double LEFT = 64, TOP = 30, PLOT_W = 330, PLOT_H = 180;
  double y_max = 0.0;
  for (const auto& [name, ys] : chart.series)
    for (double y : ys)
      if (std::isfinite(y)) y_max = std::max(y_max, y);
  const std::vector<double> ticks = nice_ticks(y_max, 4);
  const double y_scale = PLOT_H / ticks.back();
  const std::vector<double> fractions = x_fractions(chart);
  std::vector<std::pair<std::string, std::string>> legend;
  for (std::size_t s = 0; s < chart.series.size(); ++s) legend.emplace_back(chart.series[s].first, palette_color(s));
  const double legend_rows = chart.series.size() > 1 ? Svg::legend_rows(legend, PLOT_W) : 0;
  Svg svg(LEFT + PLOT_W + 30, TOP + PLOT_H + 52 + 18 * legend_rows, chart.title);
  svg.text(0, 16, chart.title, "start", 13, R"(font-weight="bold")");
  const double bottom = TOP + PLOT_H;
  for (double tick : ticks) {
    const double y = bottom - tick * y_scale;
    svg.line(LEFT, y, LEFT + PLOT_W, y, "#e4e4e4");
    svg.text(LEFT - 6, y + 4, tick_label(tick), "end", 11);
  }
  svg.text(12, TOP + PLOT_H / 2, chart.y_unit, "middle", 11, "", -90);
  svg.line(LEFT, TOP, LEFT, bottom, "#333333");
  svg.line(LEFT, bottom, LEFT + PLOT_W, bottom, "#333333");
  for (std::size_t i = 0; i < chart.x_labels.size(); ++i) {
    const double x = LEFT + fractions[i] * PLOT_W;
    svg.line(x, bottom, x, bottom + 4, "#333333");
    svg.text(x, bottom + 17, chart.x_labels[i], "middle", 11);
  }
  svg.text(LEFT + PLOT_W / 2, bottom + 36, chart.x_title + (chart.log_x ? " (log scale)" : ""), "middle", 12);
  for (std::size_t s = 0; s < chart.series.size(); ++s) {
    const auto& [name, ys] = chart.series[s];
    std::vector<std::pair<double, double>> points;
    for (std::size_t i = 0; i < ys.size() && i < fractions.size(); ++i) {
      if (!std::isfinite(ys[i])) continue;
      points.emplace_back(LEFT + fractions[i] * PLOT_W, bottom - ys[i] * y_scale);
    }
    if (points.size() > 1) svg.polyline(points, palette_color(s));
    std::size_t p = 0;
    for (std::size_t i = 0; i < ys.size() && i < fractions.size(); ++i) {
      if (!std::isfinite(ys[i])) continue;
      svg.circle(points[p].first, points[p].second, 3.5, palette_color(s),
                 fmt::format("{}{}{} = {}: {} {}", name, name.empty() ? "" : ", ", chart.x_title, chart.x_labels[i],
                             tick_label(ys[i]), chart.y_unit));
      ++p;
    }
  }
  if (chart.series.size() > 1) svg.legend(LEFT, bottom + 58, legend, PLOT_W);
  return svg.str();
}

}  // namespace comet
