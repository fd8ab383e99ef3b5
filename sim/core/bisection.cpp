#include "bisection.hpp"

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>

#include <limits>

namespace comet {
namespace {

using FlowTraits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
struct FlowEdge {
  double capacity = 0.0;
  double residual = 0.0;
  FlowTraits::edge_descriptor reverse;
};
using FlowGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS,
                                        boost::no_property, FlowEdge>;

// Adds u->v with `capacity` and its zero-capacity residual twin v->u.
void add_arc(FlowGraph& graph, std::size_t u, std::size_t v, double capacity) {
  const auto forward = boost::add_edge(u, v, graph).first;
  const auto backward = boost::add_edge(v, u, graph).first;
  graph[forward].capacity = capacity;
  graph[forward].reverse = backward;
  graph[backward].capacity = 0.0;
  graph[backward].reverse = forward;
}

}  // namespace

double bisection_bandwidth_Bps(const Topology& topology) {
  const int gpus = topology.num_gpus();
  if (gpus < 2) return 0.0;
  const TopologyGraph& links = topology.graph();
  const std::size_t source = boost::num_vertices(links);
  const std::size_t sink = source + 1;
  FlowGraph graph(source + 2);
  for (int id = 0; id < topology.num_directed_links(); ++id) {
    const auto [u, v] = topology.link_endpoints(id);
    add_arc(graph, u, v, topology.link(id).bandwidth_Bps);
  }
  const double unlimited = std::numeric_limits<double>::max() / 4;
  for (int g = 0; g < gpus; ++g) {
    if (g < gpus / 2) add_arc(graph, source, topology.gpu_vertex(g), unlimited);
    else add_arc(graph, topology.gpu_vertex(g), sink, unlimited);
  }
  return boost::push_relabel_max_flow(graph, source, sink,
                                      boost::get(&FlowEdge::capacity, graph),
                                      boost::get(&FlowEdge::residual, graph),
                                      boost::get(&FlowEdge::reverse, graph),
                                      boost::get(boost::vertex_index, graph));
}

}  // namespace comet
