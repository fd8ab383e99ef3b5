// Placement policies: contiguous (Megatron's default), strided, topology (exact assignment
// minimizing Σ copies x bytes x path cost), bottleneck (from topology, swaps that lower the most
// loaded link), replicate:R (topology plus a second slot for the R hottest experts).
#pragma once

#include <functional>

#include "expert_placement.hpp"
#include "path_costs.hpp"
#include "policy_spec.hpp"
#include "routing_matrix.hpp"
#include "topology.hpp"

namespace comet {

/// `routing` as PlacementInputs::expected (it must outlive the inputs).
inline std::function<const RoutingMatrix&()> routing_ref(const RoutingMatrix& routing) {
  return [&routing]() -> const RoutingMatrix& { return routing; };
}

struct PlacementInputs {
  const Topology* topology = nullptr;
  const PathCosts* costs = nullptr;
  /// Expected routing: the sum over steps (the placement is a deployment decision, made once).
  /// A function, so that only the placements that read it make it (PlanRouting::expected).
  std::function<const RoutingMatrix&()> expected;
  int num_experts = 0;
  int expert_parallel = 1;
  double bytes_per_copy = 1.0;
};

/// Builds the placement the policy names. Throws std::invalid_argument for
/// parameters the inputs cannot satisfy (replicate:R with R above the group size or expert count).
ExpertPlacement make_placement(const PolicySpec& policy, const PlacementInputs& inputs);

/// Megatron's default: expert e on position e / (experts / expert_parallel).
ExpertPlacement contiguous_placement(int experts, int expert_parallel);

/// The objective `topology` minimizes: Σ over sources and experts of copies x bytes x the path's
/// cost per byte (PathInfo::cost_per_byte), for the given placement.
double placement_objective(const ExpertPlacement& placement, const PlacementInputs& inputs);

/// The cost matrix of that objective: experts x positions, summed over all EP groups.
std::vector<double> placement_cost_matrix(const PlacementInputs& inputs);

}  // namespace comet
