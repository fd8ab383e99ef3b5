// The median of a sample (the mean of the two middle values for an even count): how measured
// times are summarised across repeats (validation) and benchmark rounds.
#pragma once

#include <algorithm>
#include <vector>

namespace comet {

/// Median of `values`; 0 for an empty sample.
inline double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace comet
