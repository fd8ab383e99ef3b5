#include "placement_policies.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "assignment.hpp"
#include "link_loads.hpp"

namespace comet {
namespace {

std::vector<std::vector<int>> single(const std::vector<int>& position_of_expert) {
  std::vector<std::vector<int>> replicas;
  for (int p : position_of_expert) replicas.push_back({p});
  return replicas;
}

ExpertPlacement strided(int experts, int ep) {
  std::vector<int> position(experts);
  for (int e = 0; e < experts; ++e) position[e] = e % ep;
  return ExpertPlacement("strided", ep, single(position));
}

std::vector<int> topology_positions(const PlacementInputs& in) {
  const int experts = in.expected().num_experts();
  const int ep = in.expert_parallel;
  const std::vector<double> cost = placement_cost_matrix(in);
  return solve_assignment(cost, experts, ep, std::vector<int>(ep, experts / ep));
}

// Local search from the topology assignment: repeatedly take the position sending or receiving
// most over the most loaded link and try swapping each of its experts with every expert
// elsewhere; keep the swap that lowers the maximum link time most. Only improving swaps are
// accepted, so the result is never worse than `topology`.
std::vector<int> bottleneck_positions(const PlacementInputs& in, std::vector<int> position) {
  const int experts = static_cast<int>(position.size());
  LinkLoadModel model(*in.topology, in.expected(), in.expert_parallel, in.bytes_per_copy);
  model.assign(position);
  constexpr int MAX_PASSES = 32;
  for (int pass = 0; pass < MAX_PASSES; ++pass) {
    const double current = model.max_link_time_s();
    const int hot = model.position_most_on_max_link();
    double best = current;
    std::pair<int, int> best_swap{-1, -1};
    for (int a = 0; a < experts; ++a) {
      if (position[a] != hot) continue;
      for (int b = 0; b < experts; ++b) {
        if (position[b] == hot) continue;
        const double after = model.max_link_time_after_swap(a, b);
        if (after < best * (1.0 - 1e-9)) {
          best = after;
          best_swap = {a, b};
        }
      }
    }
    if (best_swap.first < 0) break;
    model.swap(best_swap.first, best_swap.second);
    std::swap(position[best_swap.first], position[best_swap.second]);
  }
  return position;
}

ExpertPlacement replicate(const PlacementInputs& in, int copies_of_hottest) {
  const int experts = in.expected().num_experts();
  const int ep = in.expert_parallel;
  if (copies_of_hottest > ep || copies_of_hottest > experts)
    throw std::invalid_argument(fmt::format("replicate:{} needs at most {} (the expert-parallel group) and at most {} "
                                            "(the experts) extra slots",
                                            copies_of_hottest, ep, experts));
  if (ep < 2) throw std::invalid_argument("replicate needs an expert-parallel group of at least 2 GPUs");
  const std::vector<int> position = topology_positions(in);
  std::vector<std::vector<int>> replicas = single(position);
  const std::vector<std::int64_t> load = in.expected().per_expert();
  std::vector<int> by_load(experts);
  std::iota(by_load.begin(), by_load.end(), 0);
  std::stable_sort(by_load.begin(), by_load.end(), [&](int a, int b) { return load[a] > load[b]; });
  // Copies each position computes; a hot expert's second slot goes to the least loaded position
  // that has no extra slot yet, and the expert's load is split between its two slots.
  std::vector<double> position_load(ep, 0.0);
  for (int e = 0; e < experts; ++e) position_load[position[e]] += static_cast<double>(load[e]);
  std::vector<bool> has_extra(ep, false);
  for (int i = 0; i < copies_of_hottest; ++i) {
    const int e = by_load[i];
    int target = -1;
    for (int p = 0; p < ep; ++p)
      if (!has_extra[p] && p != position[e] && (target < 0 || position_load[p] < position_load[target])) target = p;
    has_extra[target] = true;
    replicas[e].push_back(target);
    position_load[position[e]] -= static_cast<double>(load[e]) / 2;
    position_load[target] += static_cast<double>(load[e]) / 2;
  }
  return ExpertPlacement(fmt::format("replicate:{}", copies_of_hottest), ep, std::move(replicas));
}

}  // namespace

ExpertPlacement contiguous_placement(int experts, int expert_parallel) {
  const int per_gpu = experts / expert_parallel;
  std::vector<int> position(experts);
  for (int e = 0; e < experts; ++e) position[e] = e / per_gpu;
  return ExpertPlacement("contiguous", expert_parallel, single(position));
}

std::vector<double> placement_cost_matrix(const PlacementInputs& in) {
  const RoutingMatrix& routing = in.expected();
  const int experts = routing.num_experts();
  const int ep = in.expert_parallel;
  std::vector<double> cost(static_cast<std::size_t>(experts) * ep, 0.0);
  std::vector<double> path_cost(ep);
  // cost[e][p] = Σ_groups Σ_src copies[src][e] x bytes x cost_per_byte(src, group_base + p).
  for (int src = 0; src < routing.num_gpus(); ++src) {
    const int base = src - src % ep;
    for (int p = 0; p < ep; ++p) path_cost[p] = (*in.costs)(src, base + p).cost_per_byte() * in.bytes_per_copy;
    const std::int32_t* row = routing.row(src);
    for (int e = 0; e < experts; ++e) {
      if (row[e] == 0) continue;
      double* out = &cost[static_cast<std::size_t>(e) * ep];
      const double copies = row[e];
      for (int p = 0; p < ep; ++p) out[p] += copies * path_cost[p];
    }
  }
  return cost;
}

double placement_objective(const ExpertPlacement& placement, const PlacementInputs& in) {
  const RoutingMatrix& routing = in.expected();
  const int ep = in.expert_parallel;
  double total = 0.0;
  for (int src = 0; src < routing.num_gpus(); ++src) {
    const int base = src - src % ep;
    for (int e = 0; e < routing.num_experts(); ++e) {
      const std::vector<int>& where = placement.replicas(e);
      for (int r = 0; r < static_cast<int>(where.size()); ++r) {
        const auto copies = ExpertPlacement::replica_share(routing.at(src, e), r, static_cast<int>(where.size()));
        total += static_cast<double>(copies) * in.bytes_per_copy * (*in.costs)(src, base + where[r]).cost_per_byte();
      }
    }
  }
  return total;
}

ExpertPlacement make_placement(const PolicySpec& policy, const PlacementInputs& in) {
  const int experts = in.num_experts;
  const int ep = in.expert_parallel;
  if (ep < 1 || experts % ep != 0) throw std::invalid_argument("experts must divide over the expert-parallel group");
  if (policy.name == "contiguous") return contiguous_placement(experts, ep);
  if (policy.name == "strided") return strided(experts, ep);
  if (policy.name == "topology") return ExpertPlacement("topology", ep, single(topology_positions(in)));
  if (policy.name == "bottleneck")
    return ExpertPlacement("bottleneck", ep, single(bottleneck_positions(in, topology_positions(in))));
  if (policy.name == "replicate") return replicate(in, policy.parameter);
  throw std::invalid_argument("unknown placement policy " + policy.text());
}

}  // namespace comet
