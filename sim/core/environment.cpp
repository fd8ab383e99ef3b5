#include "environment.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "input_error.hpp"

namespace comet {

std::optional<int> environment_int(const char* name, int min) {
  const char* text = std::getenv(name);
  if (!text) return std::nullopt;
  int value = 0;
  const char* end = text + std::strlen(text);
  const auto [last, error] = std::from_chars(text, end, value);
  if (error != std::errc() || last != end || end == text || value < min)
    throw InputError({"<environment>", 0, 0}, name, text, fmt::format("a whole number >= {}", min));
  return value;
}

std::optional<double> environment_double(const char* name, double min, double max) {
  const char* text = std::getenv(name);
  if (!text) return std::nullopt;
  double value = 0.0;
  const char* end = text + std::strlen(text);
  const auto [last, error] = std::from_chars(text, end, value);
  if (error != std::errc() || last != end || end == text || !(value >= min && value < max))
    throw InputError({"<environment>", 0, 0}, name, text, fmt::format("a number in [{}, {})", min, max));
  return value;
}

}  // namespace comet
