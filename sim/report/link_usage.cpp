#include "link_usage.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace comet {

double capacity_Bps(const Timeline& timeline, const Topology& topology, int link) {
  return timeline.link_effective_Bps.size() > static_cast<std::size_t>(link) ? timeline.link_effective_Bps[link]
                                                                              : topology.link(link).bandwidth_Bps;
}

std::vector<double> link_utilization(const Timeline& timeline, const Topology& topology) {
  std::vector<double> utilization;
  const double makespan = timeline.makespan_s();
  if (timeline.link_bytes.empty() || makespan <= 0.0) return utilization;
  utilization.resize(timeline.link_bytes.size());
  for (std::size_t id = 0; id < utilization.size(); ++id)
    utilization[id] = timeline.link_bytes[id] / (capacity_Bps(timeline, topology, static_cast<int>(id)) * makespan);
  return utilization;
}

std::vector<int> busiest_links(const std::vector<double>& utilization, std::size_t count) {
  std::vector<int> ids(utilization.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return utilization[a] > utilization[b]; });
  std::vector<int> busiest;
  for (int id : ids) {
    if (busiest.size() >= count || utilization[id] <= 0.0) break;
    busiest.push_back(id);
  }
  return busiest;
}

LinkUsage describe_link(const Timeline& timeline, const Topology& topology, int link) {
  const auto [from, to] = topology.link_endpoints(link);
  LinkUsage usage;
  usage.link = link;
  usage.name = fmt::format("{} -> {}", topology.vertex_name(from), topology.vertex_name(to));
  usage.link_class = std::string(to_string(topology.link(link).link_class));
  usage.bytes = timeline.link_bytes.empty() ? 0.0 : timeline.link_bytes[link];
  const double makespan = timeline.makespan_s();
  usage.utilization = makespan > 0.0 ? usage.bytes / (capacity_Bps(timeline, topology, link) * makespan) : 0.0;
  return usage;
}

}  // namespace comet
