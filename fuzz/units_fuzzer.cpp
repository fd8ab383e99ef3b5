// The units parser (every bandwidth, size and latency in YAML): a value or a UnitError.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "units.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (comet::Dimension d : {comet::Dimension::BYTES, comet::Dimension::SECONDS, comet::Dimension::BYTES_PER_SECOND,
                             comet::Dimension::COUNT}) {
    try {
      const double value = comet::parse_quantity(text, d);
      if (!std::isfinite(value) || value < 0.0) {
        std::fprintf(stderr, "parse_quantity returned %g: it promises finite, non-negative values\n", value);
        std::abort();
      }
    } catch (const comet::UnitError&) {
    }
  }
  return 0;
}
