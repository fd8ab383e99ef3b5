#include "a2a_footprint.hpp"

#include <algorithm>

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

}  // namespace comet
