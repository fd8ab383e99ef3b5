// Bytes per directed link of a direct all-to-all, for the `bottleneck` placement's local search.
// Dispatch follows each (source, expert host) route; the combine returns the same bytes on the
// reverse direction of the same links (ECMP may pick other equal-cost links for the real
// reverse route; the loads are statistically the same).
#pragma once

#include <cstdint>
#include <vector>

#include "routing_matrix.hpp"
#include "topology.hpp"

namespace comet {

class LinkLoadModel {
 public:
  LinkLoadModel(const Topology& topology, const RoutingMatrix& routing, int expert_parallel, double bytes_per_copy);

  /// Places expert e on position `position[e]` (one replica each) and recomputes all loads.
  void assign(const std::vector<int>& position);
  /// Seconds the most loaded link needs: max over links of bytes / bandwidth.
  double max_link_time_s() const;
  /// The same after swapping the positions of experts a and b (nothing is changed).
  double max_link_time_after_swap(int a, int b);
  void swap(int a, int b);
  /// The position whose received traffic puts most bytes on the most loaded link.
  int position_most_on_max_link() const;
  const std::vector<double>& bytes() const { return bytes_; }

 private:
  void add_pair(int src, int position, double bytes);
  void apply_swap(int a, int b, double sign);
  const int* route_begin(int src, int position) const { return &route_links_[route_start_[pair(src, position)]]; }
  const int* route_end(int src, int position) const { return &route_links_[route_start_[pair(src, position) + 1]]; }
  std::size_t pair(int src, int position) const { return static_cast<std::size_t>(src) * expert_parallel_ + position; }

  const Topology& topology_;
  const RoutingMatrix& routing_;
  int expert_parallel_;
  double bytes_per_copy_;
  std::vector<int> position_;
  std::vector<double> bytes_;          // per directed link
  std::vector<double> inverse_bw_;     // per directed link, s/byte
  std::vector<std::size_t> route_start_;  // CSR of routes per (src, position)
  std::vector<int> route_links_;
};

}  // namespace comet
