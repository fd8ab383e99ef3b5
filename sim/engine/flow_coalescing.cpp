#include "flow_coalescing.hpp"

#include <algorithm>
#include <limits>

namespace comet {

FlowCoalescer::FlowCoalescer(const Topology& topology, const CostModel& model, int group_nodes, int max_pair_flows)
    : topology_(topology),
      model_(model),
      max_pair_flows_(max_pair_flows),
      num_gpus_(topology.num_gpus()),
      num_real_links_(topology.num_directed_links()),
      gpus_per_node_(topology.num_gpus() / topology.num_nodes()),
      nics_per_node_(topology.num_vertices_of(VertexKind::NIC) / topology.num_nodes()),
      rails_(std::max(1, nics_per_node_)) {
  group_of_.assign(static_cast<std::size_t>(topology.num_nodes()) * rails_, -1);
  if (nics_per_node_ == 0 || topology.num_nodes() < 2) return;
  // Groups fill up in node order, per (leaf, rail): consecutive nodes under one leaf.
  std::map<std::pair<int, int>, int> filling;
  for (int n = 0; n < topology.num_nodes(); ++n) {
    for (int r = 0; r < rails_; ++r) {
      const int gw = gateway(n, r);
      const int leaf = topology.leaf_of_gpu(gw);
      if (leaf < 0) continue;
      bool exclusive = true;
      const std::vector<int> hop = first_hop(gw, exclusive);
      auto [slot, added] = filling.try_emplace({leaf, r}, -1);
      if (!exclusive || slot->second < 0 || groups_[static_cast<std::size_t>(slot->second)].nodes >= group_nodes) {
        slot->second = static_cast<int>(groups_.size());
        Group group;
        group.index = slot->second;
        if (exclusive) {
          group.first_hop = {num_real_links_ + static_cast<int>(pooled_.size())};
          pooled_.push_back({0.0, 0.0});
        } else {
          group.first_hop = hop;
        }
        groups_.push_back(std::move(group));
      }
      Group& group = groups_[static_cast<std::size_t>(slot->second)];
      if (exclusive) {  // the member's two links in series, added to the pool
        FlowLink& pool = pooled_[static_cast<std::size_t>(group.first_hop[0] - num_real_links_)];
        double bottleneck = std::numeric_limits<double>::infinity(), latency = 0.0;
        for (int id : hop) {
          bottleneck = std::min(bottleneck, model.effective_Bps(topology.link(id)));
          latency += topology.link(id).latency_s;
        }
        pool.Bps += bottleneck;
        pool.latency_s = std::max(pool.latency_s, latency);
      }
      ++group.nodes;
      group_of_[static_cast<std::size_t>(n) * rails_ + r] = group.index;
      for (int g = n * gpus_per_node_; g < (n + 1) * gpus_per_node_; ++g)
        if (topology.leaf_of_gpu(g) == leaf) group.gpus.push_back(g);
    }
  }
}

int FlowCoalescer::rail(int gpu) const {
  return nics_per_node_ == 0 ? 0 : (gpu % gpus_per_node_) * nics_per_node_ / gpus_per_node_;
}

int FlowCoalescer::gateway(int node, int rail) const {
  return nics_per_node_ == 0
             ? node * gpus_per_node_
             : node * gpus_per_node_ + (rail * gpus_per_node_ + nics_per_node_ - 1) / nics_per_node_;
}

// Links of `gpu`'s route to another node up to and including the one into its leaf;
// `exclusive` false when one of them leads into the node's fabric (shared with in-node traffic).
std::vector<int> FlowCoalescer::first_hop(int gpu, bool& exclusive) const {
  std::vector<int> hop;
  for (int id : topology_.route(gpu, (gpu + gpus_per_node_) % num_gpus_)) {
    hop.push_back(id);
    const VertexKind kind = topology_.graph()[topology_.link_endpoints(id).second].kind;
    if (kind == VertexKind::LEAF) break;
    exclusive = exclusive && kind == VertexKind::NIC;
  }
  return hop;
}

CoalescedOp FlowCoalescer::coalesce(const TransferMatrix& matrix, bool reversed) const {
  const bool per_pair = static_cast<int>(matrix.transfers.size()) <= max_pair_flows_;
  struct Coalesced {
    double bytes = 0.0;
    std::vector<std::int32_t> members;  // GPUs, then indices into op.gpus
  };
  std::map<std::pair<std::int32_t, std::int32_t>, Coalesced> flows;
  std::map<std::pair<std::int32_t, std::int32_t>, double> node_flows;
  CoalescedOp op;
  for (const Transfer& t : matrix.transfers) {
    const int src = reversed ? t.dst : t.src, dst = reversed ? t.src : t.dst;
    op.gpus.push_back(src);
    op.gpus.push_back(dst);
    const int group = group_of_[static_cast<std::size_t>(node(src)) * rails_ + rail(dst)];
    Coalesced* flow = nullptr;
    if (per_pair || node(src) == node(dst) || group < 0) {
      flow = &flows[{src, dst}];
      node_flows[{src, dst}] += t.bytes;
    } else {
      const int to = gateway(node(dst), rail(dst));
      node_flows[{gateway(node(src), rail(dst)), to}] += t.bytes;
      flow = &flows[{num_gpus_ + group, to}];
    }
    flow->bytes += t.bytes;
    flow->members.push_back(src);
    flow->members.push_back(dst);
  }
  std::sort(op.gpus.begin(), op.gpus.end());
  op.gpus.erase(std::unique(op.gpus.begin(), op.gpus.end()), op.gpus.end());
  op.flows_per_gpu.assign(op.gpus.size(), 0);
  for (auto& [pair, flow] : flows) {
    op.flows.push_back({pair.first, pair.second, flow.bytes});
    std::vector<std::int32_t>& members = flow.members;
    std::sort(members.begin(), members.end());
    members.erase(std::unique(members.begin(), members.end()), members.end());
    for (std::int32_t& member : members) {
      member = static_cast<std::int32_t>(std::lower_bound(op.gpus.begin(), op.gpus.end(), member) - op.gpus.begin());
      ++op.flows_per_gpu[static_cast<std::size_t>(member)];
    }
    op.flow_members.push_back(std::move(members));
  }
  for (const auto& [pair, b] : node_flows) op.node_flows.push_back({pair.first, pair.second, b});
  return op;
}

std::vector<int> FlowCoalescer::route(int src, int dst) const {
  if (src < num_gpus_) return topology_.route(src, dst);
  const Group& group = groups_.at(static_cast<std::size_t>(src - num_gpus_));
  // ECMP: the path of one of the group's GPUs (never one of the destination's node, whose route
  // would stay inside it), picked by destination node + 3 x rail: under the topology's ECMP
  // (source rank + destination GPU), the flows of a leaf then cover its uplinks evenly on the
  // fat-trees `comet init` writes (the rail GPU itself, rank = rail mod 8 with 8 rails, aliased
  // them onto even uplinks; tests/flow_coalescing_test.cpp checks the spread).
  const std::size_t count = group.gpus.size();
  std::size_t pick = static_cast<std::size_t>(node(dst) + 3 * rail(dst)) % count;
  while (node(group.gpus[pick]) == node(dst)) pick = (pick + 1) % count;
  std::vector<int> links = group.first_hop;
  bool past_leaf = false;
  for (int id : topology_.route(group.gpus[pick], dst)) {
    if (past_leaf) links.push_back(id);
    past_leaf = past_leaf || topology_.graph()[topology_.link_endpoints(id).second].kind == VertexKind::LEAF;
  }
  return links;
}

FlowLink FlowCoalescer::link(int id) const {
  if (id < num_real_links_) return {model_.effective_Bps(topology_.link(id)), topology_.link(id).latency_s};
  return pooled_.at(static_cast<std::size_t>(id - num_real_links_));
}

}  // namespace comet
