#include "topology_builders.hpp"

#include <fmt/format.h>

#include <numeric>

namespace comet {
namespace {

VertexKind switch_kind(int level) {
  return level == 1 ? VertexKind::LEAF : level == 2 ? VertexKind::SPINE : VertexKind::CORE;
}

// Class of the link between a level-`lower` vertex and its parent one level up.
LinkClass uplink_class(int lower) {
  return lower == 0 ? LinkClass::NIC : lower == 1 ? LinkClass::LEAF : lower == 2 ? LinkClass::SPINE : LinkClass::CORE;
}

class ClusterBuilder {
 public:
  explicit ClusterBuilder(const TopologySpec& spec) : spec_(spec), topology_(spec.name) {}

  /// Adds `count` nodes: fabric, GPUs and NICs with their in-node links.
  void add_nodes(int count) {
    const NodeSpec& n = spec_.node;
    const bool pcie = n.fabric == NodeFabric::PCIE;
    for (int node = 0; node < count; ++node) {
      const VertexId fabric = topology_.add_vertex(pcie ? VertexKind::PCIE_SWITCH : VertexKind::NVSWITCH, 0, node);
      std::vector<VertexId> nics;
      for (int i = 0; i < n.nics; ++i) {
        nics.push_back(topology_.add_vertex(VertexKind::NIC, 0, node));
        nic_vertices_.push_back(nics.back());
        if (pcie) add(fabric, nics.back(), n.pcie_Bps, LinkClass::PCIE);
      }
      for (int g = 0; g < n.gpus; ++g) {
        const VertexId gpu = topology_.add_vertex(VertexKind::GPU, 0, node);
        add(gpu, fabric, n.gpu_link_Bps, pcie ? LinkClass::PCIE : LinkClass::NVLINK);
        VertexId nic = TopologyGraph::null_vertex();
        if (n.nics > 0) {
          nic = nics[static_cast<std::size_t>(g) * n.nics / n.gpus];
          if (!pcie) add(gpu, nic, n.pcie_Bps, LinkClass::PCIE);
        }
        topology_.attach_gpu(gpu, fabric, nic, pcie);
      }
    }
  }

  VertexId add_switch(int level) { return topology_.add_vertex(switch_kind(level), level, -1); }

  /// Cables NIC `nic` (global, node-major index) to a leaf.
  void cable_nic(int nic, VertexId leaf) {
    add(nic_vertices_.at(nic), leaf, spec_.node.nic_Bps, LinkClass::NIC);
    topology_.attach_nic(nic_vertices_[nic], leaf);
  }

  /// Cables a level-`level` switch to a parent one level up.
  void cable_up(VertexId child, int level, VertexId parent, double bandwidth_Bps) {
    add(child, parent, bandwidth_Bps, uplink_class(level));
  }

  int num_nics() const { return static_cast<int>(nic_vertices_.size()); }
  Topology finish() {
    topology_.finalize();
    return std::move(topology_);
  }

 private:
  void add(VertexId u, VertexId v, double bandwidth_Bps, LinkClass link_class) {
    topology_.add_link(u, v, bandwidth_Bps, bandwidth_Bps,
                       spec_.latency_s[static_cast<std::size_t>(link_class)], link_class);
  }

  const TopologySpec& spec_;
  Topology topology_;
  std::vector<VertexId> nic_vertices_;
};

void build_tree(const TopologySpec& spec, ClusterBuilder& builder) {
  const std::vector<int>& fan_out = spec.tree.fan_out;
  const int nodes = std::accumulate(fan_out.begin(), fan_out.end(), 1, std::multiplies<>());
  builder.add_nodes(nodes);
  const int nics_per_leaf = fan_out[0] * spec.node.nics;
  std::vector<VertexId> below;
  for (int leaf = 0; leaf < nodes / fan_out[0]; ++leaf) {
    below.push_back(builder.add_switch(1));
    for (int i = 0; i < nics_per_leaf; ++i) builder.cable_nic(leaf * nics_per_leaf + i, below.back());
  }
  double down_capacity_Bps = nics_per_leaf * spec.node.nic_Bps;
  for (std::size_t level = 1; level < fan_out.size(); ++level) {
    const double uplink_Bps = down_capacity_Bps / spec.tree.oversubscription[level - 1];
    std::vector<VertexId> above;
    for (std::size_t child = 0; child < below.size(); ++child) {
      if (child % fan_out[level] == 0) above.push_back(builder.add_switch(static_cast<int>(level) + 1));
      builder.cable_up(below[child], static_cast<int>(level), above.back(), uplink_Bps);
    }
    down_capacity_Bps = fan_out[level] * uplink_Bps;
    below = std::move(above);
  }
}

// XGFT(h; m = down; w = up). A level-l vertex's index has mixed-radix digits
// (x_h .. x_{l+1} | y_l .. y_1); its parents replace x_{l+1} by each y_{l+1} in [0, w_{l+1}).
void build_fat_tree(const TopologySpec& spec, ClusterBuilder& builder) {
  const std::vector<int>& down = spec.fat_tree.down;
  const std::vector<int>& up = spec.fat_tree.up;
  const int levels = static_cast<int>(down.size());
  const long hosts = std::accumulate(down.begin(), down.end(), 1L, std::multiplies<>());
  builder.add_nodes(static_cast<int>(hosts / spec.node.nics));

  long below_count = hosts;  // vertices at level l
  long w_product = 1;        // W_l = w_1 * ... * w_l
  double bandwidth_Bps = spec.node.nic_Bps;
  std::vector<VertexId> below;
  for (int l = 0; l < levels; ++l) {
    const long m_next = down[l];
    const long w_next = up[l];
    const long above_count = below_count / m_next * w_next;
    std::vector<VertexId> above;
    for (long i = 0; i < above_count; ++i) above.push_back(builder.add_switch(l + 1));
    if (l > 0) bandwidth_Bps = down[l - 1] * bandwidth_Bps / (w_next * spec.fat_tree.oversubscription[l - 1]);
    for (long index = 0; index < below_count; ++index) {
      const long low = index % w_product;
      const long high = index / (w_product * m_next);
      for (long y = 0; y < w_next; ++y) {
        const VertexId parent = above[high * w_next * w_product + y * w_product + low];
        if (l == 0) builder.cable_nic(static_cast<int>(index), parent);
        else builder.cable_up(below[index], l, parent, bandwidth_Bps);
      }
    }
    w_product *= w_next;
    below_count = above_count;
    below = std::move(above);
  }
}

void build_rail(const TopologySpec& spec, ClusterBuilder& builder) {
  const RailSpec& rail = spec.rail;
  const int rails = spec.node.nics;
  builder.add_nodes(rail.nodes);
  const int groups = rail.nodes / rail.nodes_per_leaf;
  std::vector<VertexId> leaves;
  for (int i = 0; i < groups * rails; ++i) leaves.push_back(builder.add_switch(1));
  for (int node = 0; node < rail.nodes; ++node)
    for (int r = 0; r < rails; ++r)
      builder.cable_nic(node * rails + r, leaves[(node / rail.nodes_per_leaf) * rails + r]);
  const double uplink_Bps =
      rail.nodes_per_leaf * spec.node.nic_Bps / (rail.spines * rail.oversubscription);
  std::vector<VertexId> spines;
  for (int s = 0; s < rail.spines; ++s) spines.push_back(builder.add_switch(2));
  for (VertexId leaf : leaves)
    for (VertexId spine : spines) builder.cable_up(leaf, 1, spine, uplink_Bps);
}

}  // namespace

Topology build_topology(const TopologySpec& spec) {
  ClusterBuilder builder(spec);
  switch (spec.kind) {
    case TopologyKind::NODE: builder.add_nodes(1); break;
    case TopologyKind::TREE: build_tree(spec, builder); break;
    case TopologyKind::FAT_TREE: build_fat_tree(spec, builder); break;
    case TopologyKind::RAIL_OPTIMIZED: build_rail(spec, builder); break;
  }
  return builder.finish();
}

}  // namespace comet
