#include "flow_coalescing.hpp"

#include "environment.hpp"

#include <algorithm>
#include <limits>
#include <map>

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
  pool_shares_.resize(static_cast<std::size_t>(num_gpus_));
  if (nics_per_node_ == 0 || topology.num_nodes() < 2) return;
  // Groups fill up in node order, per (leaf, rail): consecutive nodes under one leaf.
  std::map<std::pair<int, int>, int> filling;
  for (int n = 0; n < topology.num_nodes(); ++n) {
    for (int r = 0; r < rails_; ++r) {
      const int gw = gateway(n, r);
      const int leaf = topology.leaf_of_gpu(gw);
      if (leaf < 0) continue;
      bool exclusive = true;
      const std::vector<int> out = first_hop(gw, exclusive);
      const std::vector<int> in = last_hop(gw, exclusive);
      auto [slot, added] = filling.try_emplace({leaf, r}, -1);
      if (!exclusive || slot->second < 0 || groups_[static_cast<std::size_t>(slot->second)].nodes >= group_nodes) {
        slot->second = static_cast<int>(groups_.size());
        Group group;
        group.index = slot->second;
        if (exclusive) {
          group.first_hop = {num_real_links_ + static_cast<int>(pooled_.size())};
          group.last_hop = {num_real_links_ + static_cast<int>(pooled_.size()) + 1};
          pooled_.push_back({0.0, 0.0});
          pooled_.push_back({0.0, 0.0});
        } else {
          group.first_hop = out;
          group.last_hop = in;
        }
        groups_.push_back(std::move(group));
      }
      Group& group = groups_[static_cast<std::size_t>(slot->second)];
      if (exclusive) {  // the member's links in series, added to the group's pools
        auto& shares = pool_shares_[static_cast<std::size_t>(gw)];
        shares.push_back({group.first_hop[0], add_to_pool(group.first_hop[0], out)});
        shares.push_back({group.last_hop[0], add_to_pool(group.last_hop[0], in)});
      }
      ++group.nodes;
      group_of_[static_cast<std::size_t>(n) * rails_ + r] = group.index;
      for (int g = n * gpus_per_node_; g < (n + 1) * gpus_per_node_; ++g)
        if (topology.leaf_of_gpu(g) == leaf) group.gpus.push_back(g);
    }
  }
}

double FlowCoalescer::add_to_pool(int pooled_link, const std::vector<int>& hop) {
  FlowLink& pool = pooled_[static_cast<std::size_t>(pooled_link - num_real_links_)];
  double bottleneck = std::numeric_limits<double>::infinity(), latency = 0.0;
  for (int id : hop) {
    bottleneck = std::min(bottleneck, model_.effective_Bps(topology_.link(id)));
    latency += topology_.link(id).latency_s;
  }
  pool.Bps += bottleneck;
  pool.latency_s = std::max(pool.latency_s, latency);
  return bottleneck;
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

// Links of a route from another node into `gpu` after its leaf (leaf -> NIC -> GPU); `exclusive`
// false when one of them comes out of the node's fabric (shared with in-node traffic).
std::vector<int> FlowCoalescer::last_hop(int gpu, bool& exclusive) const {
  std::vector<int> route = topology_.route((gpu + gpus_per_node_) % num_gpus_, gpu), hop;
  for (auto it = route.rbegin(); it != route.rend(); ++it) {
    const VertexKind from = topology_.graph()[topology_.link_endpoints(*it).first].kind;
    hop.insert(hop.begin(), *it);
    if (from == VertexKind::LEAF) break;
    exclusive = exclusive && from == VertexKind::NIC;
  }
  return hop;
}

// Whether an op's senders are more uneven than its receivers (max over mean of the bytes per GPU):
// then its destinations are pooled and its sources kept exact, else the other way round.
bool sources_more_uneven(const TransferMatrix& matrix, bool reversed, int gpus) {
  std::vector<double> sent(gpus, 0.0), received(gpus, 0.0);
  for (const Transfer& t : matrix.transfers) {
    sent[reversed ? t.dst : t.src] += t.bytes;
    received[reversed ? t.src : t.dst] += t.bytes;
  }
  auto unevenness = [](const std::vector<double>& bytes) {
    double max = 0.0, sum = 0.0;
    int count = 0;
    for (double b : bytes)
      if (b > 0.0) max = std::max(max, b), sum += b, ++count;
    return count == 0 ? 1.0 : max * count / sum;
  };
  return unevenness(sent) > unevenness(received);
}

CoalescedOp FlowCoalescer::coalesce(const TransferMatrix& matrix, bool reversed) const {
  const bool per_pair = static_cast<int>(matrix.transfers.size()) <= max_pair_flows_;
  const bool pool_destinations = !per_pair && sources_more_uneven(matrix, reversed, num_gpus_);
  const int groups = static_cast<int>(groups_.size());
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
    // Rail-aligned between nodes: on the destination's rail when sources are pooled, on the
    // source's when destinations are.
    const int rail_used = pool_destinations ? rail(src) : rail(dst);
    const int group = group_of_[static_cast<std::size_t>(node(pool_destinations ? dst : src)) * rails_ + rail_used];
    Coalesced* flow = nullptr;
    if (per_pair || node(src) == node(dst) || group < 0) {
      flow = &flows[{src, dst}];
      node_flows[{src, dst}] += t.bytes;
    } else {
      const int from = gateway(node(src), rail_used), to = gateway(node(dst), rail_used);
      node_flows[{from, to}] += t.bytes;
      flow = pool_destinations ? &flows[{from, num_gpus_ + groups + group}] : &flows[{num_gpus_ + group, to}];
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
  const int groups = static_cast<int>(groups_.size());
  if (dst >= num_gpus_ + groups) {
    // Into a destination group: the path to one of its GPUs (ECMP: picked by source node + 3 x
    // rail, never on the source's node) up to that GPU's leaf, then the group's pooled last hop.
    const Group& group = groups_.at(static_cast<std::size_t>(dst - num_gpus_ - groups));
    const std::size_t count = group.gpus.size();
    std::size_t pick = static_cast<std::size_t>(node(src) + 3 * rail(src)) % count;
    while (node(group.gpus[pick]) == node(src)) pick = (pick + 1) % count;
    std::vector<int> links = topology_.route(src, group.gpus[pick]);
    std::size_t leaving_leaf = links.size();
    for (std::size_t i = 0; i < links.size(); ++i)
      if (topology_.graph()[topology_.link_endpoints(links[i]).first].kind == VertexKind::LEAF) leaving_leaf = i;
    links.resize(leaving_leaf);
    links.insert(links.end(), group.last_hop.begin(), group.last_hop.end());
    return links;
  }
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

int FlowCoalescer::group_nodes_for(const Topology& topology) {
  const bool oversubscribed = topology.oversubscription() > 1.0 + 1e-9;
  return oversubscribed && !topology.single_path() ? 1 : GROUP_NODES;
}

FlowCoalescer configured_coalescer(const Topology& topology, const CostModel& model, int max_pair_flows) {
  return FlowCoalescer(topology, model, environment_int("COMET_FLOW_GROUP_NODES", 1).value_or(FlowCoalescer::group_nodes_for(topology)),
                       environment_int("COMET_FLOW_PAIR_LIMIT", 0).value_or(max_pair_flows));
}

}  // namespace comet
