#include "routing_matrix.hpp"

#include <algorithm>
#include <numeric>

namespace comet {

RoutingMatrix::RoutingMatrix(int num_gpus, int num_experts)
    : num_gpus_(num_gpus),
      num_experts_(num_experts),
      counts_(static_cast<std::size_t>(num_gpus) * static_cast<std::size_t>(num_experts), 0) {}

RoutingMatrix& RoutingMatrix::operator+=(const RoutingMatrix& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_.at(i);
  return *this;
}

std::int64_t RoutingMatrix::total() const {
  return std::accumulate(counts_.begin(), counts_.end(), std::int64_t{0});
}

std::vector<std::int64_t> RoutingMatrix::per_expert() const {
  std::vector<std::int64_t> sums(num_experts_, 0);
  for (int src = 0; src < num_gpus_; ++src) {
    const std::int32_t* r = row(src);
    for (int e = 0; e < num_experts_; ++e) sums[e] += r[e];
  }
  return sums;
}

std::vector<std::int64_t> RoutingMatrix::per_source() const {
  std::vector<std::int64_t> sums(num_gpus_, 0);
  for (int src = 0; src < num_gpus_; ++src) {
    const std::int32_t* r = row(src);
    sums[src] = std::accumulate(r, r + num_experts_, std::int64_t{0});
  }
  return sums;
}

double max_over_mean(const std::vector<std::int64_t>& values) {
  if (values.empty()) return 0.0;
  const double sum = static_cast<double>(std::accumulate(values.begin(), values.end(), std::int64_t{0}));
  if (sum <= 0.0) return 0.0;
  const double max = static_cast<double>(*std::max_element(values.begin(), values.end()));
  return max / (sum / static_cast<double>(values.size()));
}

}  // namespace comet
