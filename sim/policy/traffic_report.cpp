#include "traffic_report.hpp"

#include <fmt/format.h>

#include "token_exchange.hpp"

namespace comet {

TrafficReport traffic_report(const ExpertPlacement& placement, const RoutingMatrix& routing, A2aAlgorithm algorithm,
                             const Topology& topology, const PathCosts& costs, double bytes_per_copy, int top_k) {
  TrafficReport report;
  report.placement = placement.policy();
  const TokenExchange exchange = exchange_tokens(routing, placement);
  report.received_imbalance = max_over_mean(exchange.received_per_gpu());
  std::vector<double> link_bytes(topology.num_directed_links(), 0.0);
  const int groups = routing.num_gpus() / placement.expert_parallel();
  for (int group = 0; group < groups; ++group) {
    for (const TransferMatrix& stage : build_a2a_stages(exchange, group, algorithm, topology, bytes_per_copy, top_k)) {
      for (const Transfer& t : stage.transfers)
        report.bytes_by_tier[static_cast<std::size_t>(costs(t.src, t.dst).tier)] += t.bytes;
      add_link_bytes(topology, stage, false, link_bytes);
      add_link_bytes(topology, stage, true, link_bytes);
    }
  }
  report.cross_node_bytes = report.bytes_by_tier[1] + report.bytes_by_tier[2] + report.bytes_by_tier[3];
  int worst = -1;
  for (int id = 0; id < topology.num_directed_links(); ++id) {
    const double seconds = link_bytes[id] / topology.link(id).bandwidth_Bps;
    if (worst < 0 || seconds > report.max_link_time_s) {
      worst = id;
      report.max_link_time_s = seconds;
    }
  }
  if (worst >= 0) {
    const auto [from, to] = topology.link_endpoints(worst);
    report.max_link_bytes = link_bytes[worst];
    report.max_link = fmt::format("{} -> {}", topology.vertex_name(from), topology.vertex_name(to));
  }
  return report;
}

}  // namespace comet
