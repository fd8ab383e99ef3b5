#include "transfer_slowdown.hpp"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>

namespace comet {
namespace {

// The NIC's link to its leaf (outward) or from it (inward), or -1 if `nic` has none.
int nic_leaf_link(const Topology& topology, VertexId nic, bool outward) {
  const TopologyGraph& graph = topology.graph();
  for (auto edge : boost::make_iterator_range(boost::out_edges(nic, graph))) {
    if (graph[boost::target(edge, graph)].kind != VertexKind::LEAF) continue;
    const int id = graph[edge].id;
    return outward ? id : id ^ 1;  // a physical link's two directions are ids 2k and 2k + 1
  }
  return -1;
}

}  // namespace

std::vector<std::vector<EdgeLink>> gpu_edge_links(const Topology& topology, const CostModel& model) {
  const TopologyGraph& graph = topology.graph();
  const double kept = 1.0 - model.comm_slowdown_with_compute;
  std::vector<std::vector<EdgeLink>> edges(topology.num_gpus());
  for (int gpu = 0; gpu < topology.num_gpus(); ++gpu) {
    const VertexId vertex = topology.gpu_vertex(gpu);
    std::vector<EdgeLink> in;
    for (auto edge : boost::make_iterator_range(boost::out_edges(vertex, graph))) {
      const VertexId far = boost::target(edge, graph);
      for (bool outward : {true, false}) {
        const int id = outward ? graph[edge].id : graph[edge].id ^ 1;
        double segment_Bps = model.effective_Bps(topology.link(id));
        if (graph[far].kind == VertexKind::NIC)
          if (const int leaf_link = nic_leaf_link(topology, far, outward); leaf_link >= 0)
            segment_Bps = std::min(segment_Bps, model.effective_Bps(topology.link(leaf_link)));
        (outward ? edges[gpu] : in).push_back({id, kept * segment_Bps});
      }
    }
    edges[gpu].insert(edges[gpu].end(), in.begin(), in.end());
  }
  return edges;
}

}  // namespace comet
