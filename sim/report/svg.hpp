// A small SVG writer for the charts of the HTML reports: inline SVG only (no scripts, no
// external fonts or files), so a report opens offline in any browser. Coordinates in pixels.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace comet {

/// Escapes & < > " ' for XML/HTML text and attribute values.
std::string escape_xml(std::string_view text);

/// "Nice" axis ticks from 0 to at least `max_value` (1, 2 or 5 times a power of ten apart).
std::vector<double> nice_ticks(double max_value, int target_count = 5);

/// A tick label without needless digits: 0, 2.5, 10, 1200.
std::string tick_label(double value);

/// The i-th colour of a palette that stays distinguishable for about ten series.
std::string palette_color(std::size_t i);

class Svg {
 public:
  /// `label` becomes the chart's accessible name (role="img", aria-label).
  Svg(double width, double height, std::string_view label);

  /// A rectangle; a non-empty `tooltip` shows on hover (an SVG <title>, no script needed).
  void rect(double x, double y, double width, double height, std::string_view fill, std::string_view tooltip = {});
  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double width = 1.0);
  void polyline(const std::vector<std::pair<double, double>>& points, std::string_view stroke, double width = 2.0);
  void circle(double x, double y, double radius, std::string_view fill, std::string_view tooltip = {});
  /// `anchor`: start | middle | end. `rotate`: degrees around (x, y).
  void text(double x, double y, std::string_view content, std::string_view anchor = "start", double size = 12,
            std::string_view extra_attributes = {}, double rotate = 0);
  /// A legend row of coloured squares and names from (x, y); returns the y below it.
  double legend(double x, double y, const std::vector<std::pair<std::string, std::string>>& names_and_colors,
                double max_width);
  /// A horizontal value axis under a plot: a light grid line from `grid_top` down to `axis_y` and
  /// a label at each tick, the unit centred below. x = left + tick * scale.
  void x_axis(const std::vector<double>& ticks, double left, double scale, double grid_top, double axis_y,
              double plot_width, std::string_view unit);
  /// Rows legend() needs for these names within `max_width`.
  static int legend_rows(const std::vector<std::pair<std::string, std::string>>& names_and_colors, double max_width);

  std::string str() const;

 private:
  double width_, height_;
  std::string label_;
  std::string body_;
};

}  // namespace comet
