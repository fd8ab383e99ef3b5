// All-pairs path costs between GPUs, for placement policies and reports.
//
// A dense GPU x GPU table would take 400 MB at 10,240 GPUs. Every generator builds nodes and
// switch levels with uniform links, so a pair's path summary depends only on whether the GPUs
// share a node and, if not, on their two leaves: PathCosts keeps one summary per node and per
// leaf pair (O(nodes + leaves^2)) and answers any pair in O(1). The summaries are taken from
// real routes of representative pairs; tests check them against Topology::path_info.
#pragma once

#include <vector>

#include "topology.hpp"

namespace comet {

class PathCosts {
 public:
  explicit PathCosts(const Topology& topology);

  /// The path summary from GPU `src` to GPU `dst` (tier, hops, bottleneck, latency).
  const PathInfo& operator()(int src, int dst) const {
    if (src == dst) return self_;
    if (node_[src] == node_[dst]) return intra_node_[node_[src]];
    return leaf_pair_[static_cast<std::size_t>(leaf_[src]) * num_leaves_ + leaf_[dst]];
  }
  int num_gpus() const { return static_cast<int>(node_.size()); }

 private:
  std::vector<int> node_;
  std::vector<int> leaf_;
  std::vector<PathInfo> intra_node_;
  std::vector<PathInfo> leaf_pair_;
  std::size_t num_leaves_ = 0;
  PathInfo self_;
};

}  // namespace comet
