// What a placement (and all-to-all algorithm) does to the network for one step's routing:
// dispatch bytes per tier (each transfer counted once, at the highest tier its path reaches),
// the most loaded link over dispatch + combine, and the load imbalance across GPUs.
#pragma once

#include <array>
#include <string>

#include "a2a_algorithms.hpp"
#include "expert_placement.hpp"
#include "path_costs.hpp"
#include "routing_matrix.hpp"
#include "topology.hpp"

namespace comet {

struct TrafficReport {
  std::string placement;
  std::array<double, NUM_TIERS> bytes_by_tier{};  ///< dispatch bytes (the combine mirrors them)
  double cross_node_bytes = 0.0;                  ///< leaf + spine + core
  double max_link_bytes = 0.0;                    ///< dispatch + combine on the most loaded directed link
  double max_link_time_s = 0.0;                   ///< its bytes / bandwidth
  std::string max_link;                           ///< "leaf3 -> spine7"
  double received_imbalance = 0.0;                ///< max / mean copies received per GPU
};

TrafficReport traffic_report(const ExpertPlacement& placement, const RoutingMatrix& routing, A2aAlgorithm algorithm,
                             const Topology& topology, const PathCosts& costs, double bytes_per_copy, int top_k);

}  // namespace comet
