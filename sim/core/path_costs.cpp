#include "path_costs.hpp"

#include <algorithm>

namespace comet {

PathCosts::PathCosts(const Topology& topology) {
  const int gpus = topology.num_gpus();
  node_.resize(gpus);
  leaf_.resize(gpus);
  for (int g = 0; g < gpus; ++g) {
    node_[g] = topology.node_of_gpu(g);
    leaf_[g] = std::max(0, topology.leaf_of_gpu(g));
  }
  // Representative GPUs: the first two of each node, and the first GPU of each leaf together
  // with one on another node of the same leaf (for same-leaf, cross-node pairs).
  std::vector<int> first_of_node(topology.num_nodes(), -1), second_of_node(topology.num_nodes(), -1);
  num_leaves_ = topology.has_network() ? topology.num_vertices_of(VertexKind::LEAF) : 0;
  std::vector<int> first_of_leaf(num_leaves_, -1), other_node_of_leaf(num_leaves_, -1);
  for (int g = 0; g < gpus; ++g) {
    int& first = first_of_node[node_[g]];
    if (first < 0) first = g;
    else if (second_of_node[node_[g]] < 0) second_of_node[node_[g]] = g;
    if (num_leaves_ == 0) continue;
    int& leader = first_of_leaf[leaf_[g]];
    if (leader < 0) leader = g;
    else if (other_node_of_leaf[leaf_[g]] < 0 && node_[leader] != node_[g]) other_node_of_leaf[leaf_[g]] = g;
  }
  intra_node_.resize(topology.num_nodes());
  for (int n = 0; n < topology.num_nodes(); ++n)
    if (second_of_node[n] >= 0) intra_node_[n] = topology.path_info(first_of_node[n], second_of_node[n]);

  leaf_pair_.resize(num_leaves_ * num_leaves_);
  for (std::size_t a = 0; a < num_leaves_; ++a) {
    for (std::size_t b = 0; b < num_leaves_; ++b) {
      // Any two GPUs on different nodes under leaves a and b represent the pair.
      int src = first_of_leaf[a];
      int dst = first_of_leaf[b];
      if (src >= 0 && dst >= 0 && node_[src] == node_[dst]) dst = other_node_of_leaf[b];
      if (dst < 0) {
        src = other_node_of_leaf[a];
        dst = first_of_leaf[b];
      }
      if (src >= 0 && dst >= 0 && node_[src] != node_[dst])
        leaf_pair_[a * num_leaves_ + b] = topology.path_info(src, dst);
    }
  }
}

}  // namespace comet
