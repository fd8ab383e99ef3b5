#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "svg.hpp"
#include "svg_charts.hpp"

namespace comet {
namespace {

// White (0) to dark red (1), through orange: readable with black text up to ~70%.
std::string heat_color(double value) {
  const double v = std::clamp(value, 0.0, 1.0);
  const auto mix = [v](double from, double to) { return static_cast<int>(std::lround(from + (to - from) * v)); };
  return fmt::format("#{:02x}{:02x}{:02x}", mix(255, 165), mix(255, 15), mix(255, 21));
}

}  // namespace

std::string heat_map(const HeatMap& chart) {
  constexpr double LABEL_WIDTH = 300, CELL_W = 62, CELL_H = 20, HEADER = 130;
  const double width = LABEL_WIDTH + CELL_W * static_cast<double>(chart.column_labels.size()) + 40;
  const double top = 30 + HEADER;
  Svg svg(width, top + CELL_H * static_cast<double>(chart.row_labels.size()) + 30, chart.title);
  svg.text(0, 16, chart.title, "start", 14, R"(font-weight="bold")");
  for (std::size_t c = 0; c < chart.column_labels.size(); ++c) {
    const double x = LABEL_WIDTH + CELL_W * (static_cast<double>(c) + 0.5);
    svg.text(x, top - 6, chart.column_labels[c], "start", 11, "", -45);
  }
  for (std::size_t r = 0; r < chart.row_labels.size(); ++r) {
    const double y = top + CELL_H * static_cast<double>(r);
    svg.text(LABEL_WIDTH - 8, y + CELL_H - 6, chart.row_labels[r], "end", 12);
    for (std::size_t c = 0; c < chart.column_labels.size() && c < chart.values[r].size(); ++c) {
      const double value = chart.values[r][c];
      const double x = LABEL_WIDTH + CELL_W * static_cast<double>(c);
      const std::string percent = fmt::format("{:.0f}%", 100 * value);
      svg.rect(x, y, CELL_W - 1, CELL_H - 1, heat_color(value),
               fmt::format("{}: {}: {} utilised", chart.row_labels[r], chart.column_labels[c], percent));
      svg.text(x + CELL_W / 2, y + CELL_H - 6, percent, "middle", 11,
               value > 0.7 ? R"(fill="#ffffff")" : R"(fill="#000000")");
    }
  }
  svg.text(LABEL_WIDTH, top + CELL_H * static_cast<double>(chart.row_labels.size()) + 20,
           "cell: the link's bytes / (bandwidth x makespan)", "start", 11);
  return svg.str();
}

}  // namespace comet
