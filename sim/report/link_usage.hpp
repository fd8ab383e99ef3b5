// How busy each directed link was in a run: mean utilisation = bytes carried / (effective
// bandwidth x makespan), the Metrics' max_link_mean_utilization (raw bandwidth where the Timeline
// does not record the effective one). For the heat map of the report and the link tracks of the
// traces.
#pragma once

#include <string>
#include <vector>

#include "timeline.hpp"
#include "topology.hpp"

namespace comet {

struct LinkUsage {
  int link = 0;
  std::string name;        ///< "leaf3 -> spine1", as in the Metrics
  std::string link_class;  ///< nvlink, pcie, nic, leaf, spine, core
  double bytes = 0.0;
  double utilization = 0.0;
};

/// Utilisation of every directed link (empty when the Timeline has no link bytes).
/// The bandwidth `link` could carry in the run: the engine's effective bandwidth, else raw.
double capacity_Bps(const Timeline& timeline, const Topology& topology, int link);

std::vector<double> link_utilization(const Timeline& timeline, const Topology& topology);

/// The `count` links with the highest utilisation, busiest first (ties: lower id first);
/// links that carried nothing are left out.
std::vector<int> busiest_links(const std::vector<double>& utilization, std::size_t count);

LinkUsage describe_link(const Timeline& timeline, const Topology& topology, int link);

}  // namespace comet
