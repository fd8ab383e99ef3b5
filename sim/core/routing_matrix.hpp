// tokens[source GPU][expert]: how many token copies each GPU routes to each (logical) expert in
// one step. A token with top-k routing contributes k copies to k distinct experts. Experts are
// logical: which GPU serves expert e for a source depends on the source's expert-parallel group
// and the placement.
#pragma once

#include <cstdint>
#include <vector>

namespace comet {

class RoutingMatrix {
 public:
  RoutingMatrix() = default;
  RoutingMatrix(int num_gpus, int num_experts);

  int num_gpus() const { return num_gpus_; }
  int num_experts() const { return num_experts_; }
  std::int32_t at(int src, int expert) const { return counts_[index(src, expert)]; }
  std::int32_t& at(int src, int expert) { return counts_[index(src, expert)]; }
  const std::int32_t* row(int src) const { return &counts_[index(src, 0)]; }
  std::int32_t* row(int src) { return &counts_[index(src, 0)]; }

  /// All token copies.
  std::int64_t total() const;
  /// Copies routed to each expert (column sums).
  std::vector<std::int64_t> per_expert() const;
  /// Copies each GPU sends (row sums).
  std::vector<std::int64_t> per_source() const;
  bool operator==(const RoutingMatrix& other) const = default;
  /// Adds `other` (same shape) entry by entry: expected routing is the sum over steps.
  RoutingMatrix& operator+=(const RoutingMatrix& other);

 private:
  std::size_t index(int src, int expert) const {
    return static_cast<std::size_t>(src) * static_cast<std::size_t>(num_experts_) + static_cast<std::size_t>(expert);
  }
  int num_gpus_ = 0;
  int num_experts_ = 0;
  std::vector<std::int32_t> counts_;
};

/// max / mean of the values (1 for all-equal, 0 for empty or all-zero input).
double max_over_mean(const std::vector<std::int64_t>& values);

}  // namespace comet
