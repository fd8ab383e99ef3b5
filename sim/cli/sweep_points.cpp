#include "sweep_points.hpp"

#include <fmt/format.h>

#include "input_error.hpp"

namespace comet {
namespace {

[[noreturn]] void fail(const std::string& text, const std::string& expected) {
  throw InputError({"<command line>", 0, 0}, "--set", text, expected);
}

// Splits at commas outside brackets, braces and quotes.
std::vector<std::string> split_values(const std::string& text, const std::string& whole) {
  std::vector<std::string> values{""};
  int depth = 0;
  char quote = 0;
  for (char c : text) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == ',' && depth == 0) {
      values.emplace_back();
      continue;
    }
    values.back() += c;
  }
  if (depth != 0 || quote) fail(whole, "unbalanced brackets or quotes in the values");
  for (std::string& value : values) {
    const auto first = value.find_first_not_of(' '), last = value.find_last_not_of(' ');
    value = first == std::string::npos ? "" : value.substr(first, last - first + 1);
    if (value.empty()) fail(whole, "an empty value; expected KEY=V1,V2,... with no empty values");
  }
  return values;
}

}  // namespace

SweepAxis parse_sweep_axis(const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0)
    fail(text, "expected KEY=V1,V2,... with a dotted scenario key, as in workload.tokens_per_gpu=1024,2048,4096");
  SweepAxis axis{text.substr(0, equals), split_values(text.substr(equals + 1), text)};
  for (std::size_t i = 0; i < axis.values.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (axis.values[i] == axis.values[j]) fail(text, fmt::format("the value '{}' is given twice", axis.values[i]));
  return axis;
}

std::vector<SweepAxis> parse_sweep_axes(const std::vector<std::string>& texts) {
  if (texts.empty()) fail("", "nothing to sweep; expected at least one --set KEY=V1,V2,...");
  std::vector<SweepAxis> axes;
  for (const std::string& text : texts) {
    axes.push_back(parse_sweep_axis(text));
    for (std::size_t i = 0; i + 1 < axes.size(); ++i)
      if (axes[i].key == axes.back().key) fail(text, fmt::format("the key '{}' is set twice", axes.back().key));
  }
  return axes;
}

std::vector<std::vector<ScenarioSetting>> sweep_points(const std::vector<SweepAxis>& axes) {
  std::size_t count = 1;
  for (const SweepAxis& axis : axes) {
    count *= axis.values.size();
    if (count > MAX_SWEEP_POINTS)
      fail(axis.key, fmt::format("the sweep has more than {} points; expected fewer values", MAX_SWEEP_POINTS));
  }
  std::vector<std::vector<ScenarioSetting>> points{{}};
  for (const SweepAxis& axis : axes) {
    std::vector<std::vector<ScenarioSetting>> next;
    for (const auto& prefix : points)
      for (const std::string& value : axis.values) {
        next.push_back(prefix);
        next.back().push_back({axis.key, value});
      }
    points = std::move(next);
  }
  return points;
}

}  // namespace comet
