#include "a2a_footprint.hpp"

#include <algorithm>

#include "metrics.hpp"

namespace comet {

const A2aFootprint& A2aFootprints::of(const Op& op) {
  const auto key = std::make_pair(op.matrix, op.reversed);
  if (auto found = cache_.find(key); found != cache_.end()) return found->second;
  A2aFootprint footprint;
  scratch_.assign(topology_.num_directed_links(), 0.0);
  std::vector<int> route;
  for (const Transfer& t : plan_.matrices()[op.matrix].transfers) {
    const int src = op.reversed ? t.dst : t.src, dst = op.reversed ? t.src : t.dst;
    route.clear();
    topology_.append_route(src, dst, route);
    double latency = 0.0;
    for (int id : route) {
      scratch_[id] += t.bytes;
      latency += topology_.link(id).latency_s;
    }
    footprint.latency_s = std::max(footprint.latency_s, latency);
    footprint.gpus.push_back(src);
    footprint.gpus.push_back(dst);
  }
  for (int id = 0; id < topology_.num_directed_links(); ++id)
    if (scratch_[id] > 0.0) footprint.loads.push_back({id, scratch_[id]});
  std::sort(footprint.gpus.begin(), footprint.gpus.end());
  footprint.gpus.erase(std::unique(footprint.gpus.begin(), footprint.gpus.end()), footprint.gpus.end());
  return cache_.emplace(key, std::move(footprint)).first->second;
}

double alone_s(const A2aFootprint& footprint, const Topology& topology, const CostModel& model) {
  double seconds = 0.0;
  for (const LinkLoad& load : footprint.loads)
    seconds = std::max(seconds, load.bytes / model.effective_Bps(topology.link(load.link)));
  return seconds;
}

void record_link_usage(const Plan& plan, Timeline& timeline, A2aFootprints& footprints, const Topology& topology,
                       const CostModel& model) {
  const int links = topology.num_directed_links();
  std::vector<std::vector<std::pair<double, double>>> spans(links);
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    const TimelineOp& t = timeline.ops[op.id];
    for (const LinkLoad& load : footprints.of(op).loads) spans[load.link].emplace_back(t.start_s, t.end_s);
  }
  timeline.link_busy_s.assign(links, 0.0);
  timeline.link_effective_Bps.assign(links, 0.0);
  for (int id = 0; id < links; ++id) {
    timeline.link_busy_s[id] = union_length(std::move(spans[id]));
    timeline.link_effective_Bps[id] = model.effective_Bps(topology.link(id));
  }
}

}  // namespace comet
