#include "svg.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>

namespace comet {

std::string escape_xml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double max_value, int target_count) {
  if (!(max_value > 0.0) || !std::isfinite(max_value)) return {0.0, 1.0};
  const double raw = max_value / std::max(1, target_count);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double multiple : {1.0, 2.0, 5.0, 10.0}) {
    step = multiple * power;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (int i = 0;; ++i) {
    ticks.push_back(i * step);
    if (i * step >= max_value * (1 - 1e-12)) break;
  }
  return ticks;
}

std::string tick_label(double value) {
  if (value == 0.0) return "0";
  const double magnitude = std::abs(value);
  if (magnitude >= 1e6 || magnitude < 1e-3) return fmt::format("{:.3g}", value);
  std::string text = fmt::format("{:.3f}", value);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

std::string palette_color(std::size_t i) {
  static constexpr std::array<const char*, 10> COLORS{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                                       "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return COLORS[i % COLORS.size()];
}

Svg::Svg(double width, double height, std::string_view label) : width_(width), height_(height), label_(label) {}

void Svg::rect(double x, double y, double width, double height, std::string_view fill, std::string_view tooltip) {
  body_ += fmt::format(R"(<rect x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" fill="{}")", x, y,
                       std::max(0.0, width), std::max(0.0, height), escape_xml(fill));
  body_ += tooltip.empty() ? "/>\n" : fmt::format("><title>{}</title></rect>\n", escape_xml(tooltip));
}

void Svg::line(double x1, double y1, double x2, double y2, std::string_view stroke, double width) {
  body_ += fmt::format(R"(<line x1="{:.2f}" y1="{:.2f}" x2="{:.2f}" y2="{:.2f}" stroke="{}" stroke-width="{}"/>)"
                       "\n",
                       x1, y1, x2, y2, escape_xml(stroke), width);
}

void Svg::polyline(const std::vector<std::pair<double, double>>& points, std::string_view stroke, double width) {
  std::string coordinates;
  for (const auto& [x, y] : points) coordinates += fmt::format("{:.2f},{:.2f} ", x, y);
  body_ += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="{}"/>)"
                       "\n",
                       coordinates, escape_xml(stroke), width);
}

void Svg::circle(double x, double y, double radius, std::string_view fill, std::string_view tooltip) {
  body_ += fmt::format(R"(<circle cx="{:.2f}" cy="{:.2f}" r="{}" fill="{}")", x, y, radius, escape_xml(fill));
  body_ += tooltip.empty() ? "/>\n" : fmt::format("><title>{}</title></circle>\n", escape_xml(tooltip));
}

void Svg::text(double x, double y, std::string_view content, std::string_view anchor, double size,
               std::string_view extra_attributes, double rotate) {
  const std::string transform =
      rotate == 0 ? "" : fmt::format(R"x( transform="rotate({} {:.2f} {:.2f})")x", rotate, x, y);
  body_ += fmt::format(R"(<text x="{:.2f}" y="{:.2f}" text-anchor="{}" font-size="{}"{} {}>{}</text>)"
                       "\n",
                       x, y, anchor, size, transform, extra_attributes, escape_xml(content));
}

namespace {
double legend_entry_width(const std::string& name) { return 22 + 7.0 * static_cast<double>(name.size()); }
}  // namespace

int Svg::legend_rows(const std::vector<std::pair<std::string, std::string>>& names_and_colors, double max_width) {
  int rows = names_and_colors.empty() ? 0 : 1;
  double at = 0;
  for (const auto& entry : names_and_colors) {
    const double width = legend_entry_width(entry.first);
    if (at > 0 && at + width > max_width) {
      at = 0;
      ++rows;
    }
    at += width;
  }
  return rows;
}

double Svg::legend(double x, double y, const std::vector<std::pair<std::string, std::string>>& names_and_colors,
                   double max_width) {
  double at = x;
  for (const auto& [name, color] : names_and_colors) {
    const double width = legend_entry_width(name);
    if (at > x && at + width > x + max_width) {
      at = x;
      y += 18;
    }
    rect(at, y - 10, 12, 12, color);
    text(at + 16, y, name, "start", 12);
    at += width;
  }
  return y + 18;
}

void Svg::x_axis(const std::vector<double>& ticks, double left, double scale, double grid_top, double axis_y,
                 double plot_width, std::string_view unit) {
  for (double tick : ticks) {
    const double x = left + tick * scale;
    line(x, grid_top, x, axis_y, "#e0e0e0");
    text(x, axis_y + 16, tick_label(tick), "middle", 11);
  }
  text(left + plot_width / 2, axis_y + 34, unit, "middle", 12);
}

std::string Svg::str() const {
  return fmt::format(
      R"(<svg width="{0:.0f}" height="{1:.0f}" viewBox="0 0 {0:.0f} {1:.0f}" role="img" aria-label="{2}" )"
      R"(font-family="sans-serif" class="chart">)"
      "\n{3}</svg>\n",
      width_, height_, escape_xml(label_), body_);
}

}  // namespace comet
