#include "units.hpp"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <optional>

namespace comet {
namespace {

struct Prefix {
  std::string_view symbol;
  double factor;
};

// Longest symbols first so that "Ki" wins over "K"-less matches.
constexpr std::array<Prefix, 11> SIZE_PREFIXES{{{"Ki", 1024.0},
                                                {"Mi", 1048576.0},
                                                {"Gi", 1073741824.0},
                                                {"Ti", 1099511627776.0},
                                                {"Pi", 1125899906842624.0},
                                                {"k", 1e3},
                                                {"K", 1e3},
                                                {"M", 1e6},
                                                {"G", 1e9},
                                                {"T", 1e12},
                                                {"P", 1e15}}};

constexpr std::array<Prefix, 5> TIME_UNITS{
    {{"ns", 1e-9}, {"us", 1e-6}, {"\u00b5s", 1e-6}, {"ms", 1e-3}, {"s", 1.0}}};

// Splits "<prefix><rest>" for size-like units; an empty prefix has factor 1.
std::pair<double, std::string_view> split_size_prefix(std::string_view suffix) {
  for (const Prefix& prefix : SIZE_PREFIXES) {
    if (suffix.size() > prefix.symbol.size() && suffix.substr(0, prefix.symbol.size()) == prefix.symbol)
      return {prefix.factor, suffix.substr(prefix.symbol.size())};
  }
  return {1.0, suffix};
}

// Bytes per unit for "B" or "b" (a bit is 1/8 byte); nullopt for anything else.
std::optional<double> data_unit_bytes(std::string_view unit) {
  if (unit == "B") return 1.0;
  if (unit == "b" || unit == "bit") return 0.125;
  return std::nullopt;
}

std::optional<double> bytes_factor(std::string_view suffix) {
  if (suffix.empty()) return 1.0;
  auto [factor, unit] = split_size_prefix(suffix);
  if (auto bytes = data_unit_bytes(unit)) return factor * *bytes;
  return std::nullopt;
}

std::optional<double> bandwidth_factor(std::string_view suffix) {
  auto [factor, rest] = split_size_prefix(suffix);
  std::string_view unit;
  if (rest.size() > 2 && rest.substr(rest.size() - 2) == "/s") {
    unit = rest.substr(0, rest.size() - 2);
  } else if (rest == "Bps") {
    unit = "B";
  } else if (rest == "bps") {
    unit = "b";
  } else {
    return std::nullopt;
  }
  if (auto bytes = data_unit_bytes(unit)) return factor * *bytes;
  return std::nullopt;
}

std::optional<double> time_factor(std::string_view suffix) {
  for (const Prefix& unit : TIME_UNITS)
    if (suffix == unit.symbol) return unit.factor;
  return std::nullopt;
}

std::optional<double> count_factor(std::string_view suffix) {
  if (suffix.empty()) return 1.0;
  for (const Prefix& prefix : SIZE_PREFIXES)
    if (suffix == prefix.symbol) return prefix.factor;
  return std::nullopt;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

}  // namespace

std::string describe(Dimension dimension) {
  switch (dimension) {
    case Dimension::COUNT:
      return "a non-negative number such as 4096 or 4Ki";
    case Dimension::BYTES:
      return "a size such as 64MiB, 1.5GB or 4096 (bytes)";
    case Dimension::SECONDS:
      return "a time with a unit (ns, us, ms, s) such as 2us";
    case Dimension::BYTES_PER_SECOND:
      return "a bandwidth with a unit such as 450GB/s or 400Gbps";
  }
  return "a quantity";
}

double parse_quantity(std::string_view raw_text, Dimension dimension) {
  const std::string_view text = trim(raw_text);
  if (text.empty()) throw UnitError(fmt::format("empty value; expected {}", describe(dimension)));

  double number = 0.0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end == text.data())
    throw UnitError(fmt::format("'{}' does not start with a number; expected {}", text,
                                describe(dimension)));
  if (!std::isfinite(number))
    throw UnitError(fmt::format("'{}' is not finite; expected {}", text, describe(dimension)));
  if (number < 0.0)
    throw UnitError(fmt::format("'{}' is negative; expected {}", text, describe(dimension)));

  const std::string_view suffix = trim(std::string_view(end, text.data() + text.size() - end));
  std::optional<double> factor;
  switch (dimension) {
    case Dimension::COUNT:
      factor = count_factor(suffix);
      break;
    case Dimension::BYTES:
      factor = bytes_factor(suffix);
      break;
    case Dimension::SECONDS:
      if (suffix.empty())
        throw UnitError(fmt::format("'{}' has no unit; expected {}", text, describe(dimension)));
      factor = time_factor(suffix);
      break;
    case Dimension::BYTES_PER_SECOND:
      if (suffix.empty())
        throw UnitError(fmt::format("'{}' has no unit; expected {}", text, describe(dimension)));
      factor = bandwidth_factor(suffix);
      break;
  }
  if (!factor)
    throw UnitError(fmt::format("unknown unit '{}' in '{}'; expected {}", suffix, text,
                                describe(dimension)));
  const double value = number * *factor;
  if (!std::isfinite(value))
    throw UnitError(fmt::format("'{}' is too large; expected {}", text, describe(dimension)));
  return value;
}

std::string format_quantity(double value, Dimension dimension) {
  struct Scale {
    double factor;
    const char* symbol;
  };
  auto pick = [value](std::initializer_list<Scale> scales) {
    for (const Scale& scale : scales)
      if (std::fabs(value) >= scale.factor) return scale;
    return *(scales.end() - 1);
  };
  switch (dimension) {
    case Dimension::SECONDS: {
      if (value == 0.0) return "0 s";
      const Scale s = pick({{1.0, "s"}, {1e-3, "ms"}, {1e-6, "us"}, {1e-9, "ns"}});
      return fmt::format("{:.4g} {}", value / s.factor, s.symbol);
    }
    case Dimension::BYTES_PER_SECOND: {
      const Scale s = pick({{1e15, "PB/s"}, {1e12, "TB/s"}, {1e9, "GB/s"}, {1e6, "MB/s"},
                            {1e3, "kB/s"}, {1.0, "B/s"}});
      return fmt::format("{:.4g} {}", value / s.factor, s.symbol);
    }
    case Dimension::BYTES: {
      // Binary prefixes when the value is an exact multiple; decimal otherwise.
      for (const Scale s : {Scale{1099511627776.0, "TiB"}, Scale{1073741824.0, "GiB"},
                            Scale{1048576.0, "MiB"}, Scale{1024.0, "KiB"}}) {
        if (value < s.factor) continue;
        if (std::fmod(value, s.factor) == 0.0) return fmt::format("{:.4g} {}", value / s.factor, s.symbol);
        break;  // not a whole number of the largest binary unit: decimal below
      }
      const Scale s = pick({{1e12, "TB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "kB"}, {1.0, "B"}});
      return fmt::format("{:.4g} {}", value / s.factor, s.symbol);
    }
    case Dimension::COUNT:
      return fmt::format("{:.6g}", value);
  }
  return fmt::format("{}", value);
}

}  // namespace comet
