// Quartiles of the ratio of two variants' times paired by benchmark round: how comet_gpu_bench
// compares a kernel with its reference. Two variants timed in the same round see the same state of
// the card (clock, power cap), which moves both alike from round to round; the paired ratio
// spreads less than the ratio of the two medians (one H100, 2026-12-07: per-expert cuBLAS's median
// 2.445 ms in one process and 2.747 ms in another on the same shape).
#pragma once

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace comet {

/// Quartiles of a sample; the median is median()'s (the mean of the two middle values for an even
/// count).
struct Quartiles {
  double q1 = 0.0, median = 0.0, q3 = 0.0;
};

/// Quantile q in [0, 1] of `values` by linear interpolation between order statistics (q = 0.5 is
/// the median); 0 for an empty sample.
inline double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double at = q * static_cast<double>(values.size() - 1);
  const std::size_t below = static_cast<std::size_t>(at), above = std::min(below + 1, values.size() - 1);
  return values[below] + (at - static_cast<double>(below)) * (values[above] - values[below]);
}

/// Quartiles over rounds r of numerator[r] / denominator[r] (dimensionless: the denominator
/// variant's rate over the numerator's when both are times). Throws std::invalid_argument when the
/// two have different round counts or a denominator is not positive.
inline Quartiles paired_ratio(const std::vector<double>& numerator, const std::vector<double>& denominator) {
  if (numerator.size() != denominator.size()) throw std::invalid_argument("paired_ratio: the two variants have different round counts");
  std::vector<double> ratios;
  for (std::size_t r = 0; r < numerator.size(); ++r) {
    if (!(denominator[r] > 0.0)) throw std::invalid_argument("paired_ratio: a denominator is not positive");
    ratios.push_back(numerator[r] / denominator[r]);
  }
  return {quantile(ratios, 0.25), quantile(ratios, 0.5), quantile(ratios, 0.75)};
}

}  // namespace comet
