#include "sweep_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "html_page.hpp"
#include "svg.hpp"
#include "svg_charts.hpp"

namespace comet {
namespace {

std::string set_value(const Result& r, const std::string& key) { return r.at("set").at(key).get<std::string>(); }

// The x positions when every value of the first key is a plain number.
std::vector<double> numeric_values(const std::vector<std::string>& texts) {
  std::vector<double> values;
  for (const std::string& text : texts) {
    double v = 0.0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return {};
    values.push_back(v);
  }
  return values;
}

// Combinations of the values of keys 1.. (one line each), as "key=value, key=value".
std::vector<std::vector<std::string>> series_combinations(const SweepReport& report) {
  std::vector<std::vector<std::string>> combinations{{}};
  for (std::size_t k = 1; k < report.keys.size(); ++k) {
    std::vector<std::vector<std::string>> next;
    for (const auto& prefix : combinations)
      for (const std::string& value : report.values[k]) {
        next.push_back(prefix);
        next.back().push_back(value);
      }
    combinations = std::move(next);
  }
  return combinations;
}

std::string series_name(const SweepReport& report, const std::vector<std::string>& combination) {
  std::string name;
  for (std::size_t k = 1; k < report.keys.size(); ++k)
    name += fmt::format("{}{}={}", name.empty() ? "" : ", ", report.keys[k], combination[k - 1]);
  return name;
}

LineChart metric_chart(const SweepReport& report, const ReportMetric& metric) {
  LineChart chart;
  chart.title = fmt::format("{} ({})", metric.title, metric.unit);
  chart.x_title = report.keys.front();
  chart.y_unit = metric.unit;
  chart.x_labels = report.values.front();
  chart.x_values = numeric_values(chart.x_labels);
  if (!chart.x_values.empty()) {
    const auto [low, high] = std::minmax_element(chart.x_values.begin(), chart.x_values.end());
    chart.log_x = *low > 0 && *high / *low >= 16;
  }
  for (const std::vector<std::string>& combination : series_combinations(report)) {
    std::vector<double> ys(chart.x_labels.size(), std::numeric_limits<double>::quiet_NaN());
    for (const Result& r : report.results) {
      bool match = true;
      for (std::size_t k = 1; k < report.keys.size() && match; ++k)
        match = set_value(r, report.keys[k]) == combination[k - 1];
      if (!match) continue;
      const auto x = std::find(chart.x_labels.begin(), chart.x_labels.end(), set_value(r, report.keys.front()));
      if (x != chart.x_labels.end()) ys[x - chart.x_labels.begin()] = metric.value(r);
    }
    chart.series.emplace_back(series_name(report, combination), std::move(ys));
  }
  return chart;
}

}  // namespace

Table sweep_table(const SweepReport& report) {
  Table table{{{"point", "", true}}, {}};
  for (const std::string& key : report.keys) table.columns.push_back({key, "", true});
  for (TableColumn& column : metric_columns()) table.columns.push_back(std::move(column));
  for (const Result& r : report.results) {
    std::vector<std::string> row{std::to_string(r.at("point").get<int>())};
    for (const std::string& key : report.keys) row.push_back(set_value(r, key));
    for (std::string& cell : metric_cells(r)) row.push_back(std::move(cell));
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::string sweep_html(const SweepReport& report) {
  std::string body = fmt::format("<h1>comet sweep: {}</h1>\n<div class=\"params\">", escape_xml(report.scenario));
  for (const std::string& line : report.parameters) body += escape_xml(line) + "\n";
  body += "</div>\n";
  const std::size_t finished = report.results.size();
  body += fmt::format("<p>{} of {} points finished{}.</p>\n", finished, report.total_points,
                      static_cast<int>(finished) < report.total_points ? " (the sweep was stopped or is still running)" : "");
  body += "<h2>Metrics</h2>\n<div class=\"charts\">\n";
  for (const ReportMetric& metric : report_metrics()) body += line_chart(metric_chart(report, metric));
  body += "</div>\n<h2>Points</h2>\n";
  body += format_html_table(sweep_table(report));
  return html_page(fmt::format("comet sweep: {}", report.scenario), body);
}

}  // namespace comet
