// Quantities with units, as written in scenario files and on the command line.
//
// One parser for every quantity: "450GB/s", "400Gbps", "2us", "1.5ms", "64MiB", "4096".
// SI prefixes (k, M, G, T, P) are decimal; Ki, Mi, Gi, Ti, Pi are binary. "B" is a byte,
// "b" a bit. Results are in base units: bytes, seconds, bytes per second, or a plain count.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace comet {

/// What a quantity measures; decides which suffixes are accepted.
enum class Dimension {
  COUNT,             ///< dimensionless: "4096", "4Ki", "1.5k"
  BYTES,             ///< data size in bytes: "64MiB", "1GB", "8Gb" (bits), "4096"
  SECONDS,           ///< time: "2us", "1.5ms", "3ns", "1s" (a unit is required)
  BYTES_PER_SECOND,  ///< bandwidth: "450GB/s", "400Gbps", "25GiB/s" (a unit is required)
};

/// Human name of a dimension with an example, for error messages ("a bandwidth such as 450GB/s").
std::string describe(Dimension dimension);

/// Thrown for text that is not a quantity of the requested dimension. what() says why and what
/// was expected; the caller adds where the text came from.
class UnitError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Parses `text` as a non-negative quantity of `dimension` and returns it in base units
/// (bytes, seconds, bytes/s, or a count). Throws UnitError on an empty string, a malformed
/// number, a negative or non-finite value, or a suffix that is unknown or of another dimension.
double parse_quantity(std::string_view text, Dimension dimension);

/// Formats a value in base units with a readable SI prefix: 4.5e11 B/s -> "450 GB/s",
/// 2e-6 s -> "2 us", 67108864 B -> "64 MiB" (binary prefixes for bytes that are exact).
std::string format_quantity(double value, Dimension dimension);

}  // namespace comet
