#include "topology.hpp"

#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/filtered_graph.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace comet {
namespace {

constexpr std::uint8_t UNREACHABLE = std::numeric_limits<std::uint8_t>::max();
constexpr std::uint32_t NO_RUN = std::numeric_limits<std::uint32_t>::max();

bool is_network_switch(VertexKind kind) {
  return kind == VertexKind::LEAF || kind == VertexKind::SPINE || kind == VertexKind::CORE;
}

bool is_network_link(LinkClass link_class) {
  return link_class == LinkClass::NIC || link_class == LinkClass::LEAF ||
         link_class == LinkClass::SPINE || link_class == LinkClass::CORE;
}

struct NetworkSwitchesOnly {
  const TopologyGraph* graph = nullptr;
  bool operator()(VertexId v) const { return is_network_switch((*graph)[v].kind); }
};

}  // namespace

std::string_view to_string(VertexKind kind) {
  switch (kind) {
    case VertexKind::GPU: return "gpu";
    case VertexKind::NVSWITCH: return "nvswitch";
    case VertexKind::PCIE_SWITCH: return "pcie_switch";
    case VertexKind::NIC: return "nic";
    case VertexKind::LEAF: return "leaf";
    case VertexKind::SPINE: return "spine";
    case VertexKind::CORE: return "core";
  }
  return "?";
}

std::string_view to_string(LinkClass link_class) {
  switch (link_class) {
    case LinkClass::NVLINK: return "nvlink";
    case LinkClass::PCIE: return "pcie";
    case LinkClass::NIC: return "nic";
    case LinkClass::LEAF: return "leaf";
    case LinkClass::SPINE: return "spine";
    case LinkClass::CORE: return "core";
  }
  return "?";
}

std::string_view to_string(Tier tier) {
  switch (tier) {
    case Tier::INTRA_NODE: return "intra_node";
    case Tier::LEAF: return "leaf";
    case Tier::SPINE: return "spine";
    case Tier::CORE: return "core";
  }
  return "?";
}

Topology::Topology(std::string name) : name_(std::move(name)) {}

VertexId Topology::add_vertex(VertexKind kind, int level, int node) {
  if (finalized_) throw std::logic_error("Topology::add_vertex after finalize()");
  TopologyVertex vertex{kind, level, node, num_of_kind_[static_cast<std::size_t>(kind)]++};
  const VertexId v = boost::add_vertex(vertex, graph_);
  nic_index_of_vertex_.push_back(-1);
  if (kind == VertexKind::GPU) {
    GpuAttachment attachment;
    attachment.vertex = v;
    gpus_.push_back(attachment);
    num_nodes_ = std::max(num_nodes_, node + 1);
  } else if (kind == VertexKind::NIC) {
    nic_index_of_vertex_[v] = static_cast<int>(nics_.size());
    nics_.push_back({});
  } else if (kind == VertexKind::LEAF) {
    leaves_.push_back(v);
  }
  return v;
}

int Topology::num_vertices_of(VertexKind kind) const {
  return num_of_kind_[static_cast<std::size_t>(kind)];
}

int Topology::num_switches() const {
  return num_vertices_of(VertexKind::LEAF) + num_vertices_of(VertexKind::SPINE) +
         num_vertices_of(VertexKind::CORE);
}

int Topology::add_link(VertexId u, VertexId v, double up_Bps, double down_Bps, double latency_s,
                       LinkClass link_class) {
  if (finalized_) throw std::logic_error("Topology::add_link after finalize()");
  if (!(up_Bps > 0.0) || !(down_Bps > 0.0) || latency_s < 0.0)
    throw std::invalid_argument(
        fmt::format("link {} - {}: bandwidths must be > 0 and latency >= 0", vertex_name(u),
                    vertex_name(v)));
  const int id = static_cast<int>(links_.size());
  const TopologyLink up{up_Bps, latency_s, link_class, id};
  const TopologyLink down{down_Bps, latency_s, link_class, id + 1};
  boost::add_edge(u, v, up, graph_);
  boost::add_edge(v, u, down, graph_);
  links_.push_back({up, u, v});
  links_.push_back({down, v, u});
  return id;
}

int Topology::find_link(VertexId u, VertexId v) const {
  for (auto e : boost::make_iterator_range(boost::out_edges(u, graph_)))
    if (boost::target(e, graph_) == v) return graph_[e].id;
  throw std::logic_error(fmt::format("no link {} -> {}", vertex_name(u), vertex_name(v)));
}

void Topology::attach_gpu(VertexId gpu, VertexId fabric, VertexId nic, bool nic_behind_fabric) {
  GpuAttachment& attachment = gpus_.at(graph_[gpu].index);
  attachment.fabric_up = find_link(gpu, fabric);
  attachment.fabric_down = find_link(fabric, gpu);
  if (nic == TopologyGraph::null_vertex()) return;
  attachment.nic = nic_index_of_vertex_.at(nic);
  if (nic_behind_fabric) {
    attachment.to_nic = {attachment.fabric_up, find_link(fabric, nic)};
    attachment.from_nic = {find_link(nic, fabric), attachment.fabric_down};
  } else {
    attachment.to_nic = {find_link(gpu, nic), -1};
    attachment.from_nic = {find_link(nic, gpu), -1};
  }
}

void Topology::attach_nic(VertexId nic, VertexId leaf) {
  NicAttachment& attachment = nics_.at(nic_index_of_vertex_.at(nic));
  attachment.leaf = graph_[leaf].index;
  attachment.leaf_up = find_link(nic, leaf);
  attachment.leaf_down = find_link(leaf, nic);
}

void Topology::finalize() {
  if (finalized_) return;
  for (const GpuAttachment& gpu : gpus_) {
    if (gpu.fabric_up < 0 && num_gpus() > 1)
      throw std::logic_error(fmt::format("{} has no node fabric", vertex_name(gpu.vertex)));
    if (has_network() && (gpu.nic < 0 || nics_[gpu.nic].leaf < 0))
      throw std::logic_error(fmt::format("{} has no path to a leaf", vertex_name(gpu.vertex)));
  }
  switch_slot_.assign(boost::num_vertices(graph_), -1);
  num_network_switches_ = 0;
  for (auto v : boost::make_iterator_range(boost::vertices(graph_)))
    if (is_network_switch(graph_[v].kind)) switch_slot_[v] = num_network_switches_++;

  // One BFS per leaf over the network switches gives every switch's hop distance to that leaf;
  // links are symmetric, so distance from the leaf equals distance to it.
  distance_.assign(leaves_.size() * num_network_switches_, UNREACHABLE);
  const NetworkSwitchesOnly predicate{&graph_};
  boost::filtered_graph<TopologyGraph, boost::keep_all, NetworkSwitchesOnly> network(
      graph_, boost::keep_all(), predicate);
  std::vector<int> hops(boost::num_vertices(graph_), 0);
  for (std::size_t leaf = 0; leaf < leaves_.size(); ++leaf) {
    std::fill(hops.begin(), hops.end(), 0);
    boost::breadth_first_search(
        network, leaves_[leaf],
        boost::visitor(boost::make_bfs_visitor(boost::record_distances(
            boost::make_iterator_property_map(hops.begin(),
                                              boost::get(boost::vertex_index, graph_)),
            boost::on_tree_edge()))));
    std::uint8_t* row = &distance_[leaf * num_network_switches_];
    for (auto v : boost::make_iterator_range(boost::vertices(graph_))) {
      const int slot = switch_slot_[v];
      if (slot < 0) continue;
      if (hops[v] > 0 || v == leaves_[leaf]) row[slot] = static_cast<std::uint8_t>(hops[v]);
    }
  }
  index_switch_edges();
  prepare_ecmp();
  std::array<double, NUM_LINK_CLASSES> total_Bps{};
  for (const StoredLink& stored : links_) total_Bps[static_cast<std::size_t>(stored.link.link_class)] += stored.link.bandwidth_Bps;
  for (std::size_t c = 0; c < NUM_LINK_CLASSES; ++c)
    fair_share_Bps_[c] = total_Bps[c] / (2.0 * std::max(1, num_gpus()));  // both directions
  finalized_ = true;
}

double Topology::oversubscription() const {
  const double nic = fair_share_Bps(LinkClass::NIC);
  double worst = 1.0;
  for (LinkClass c : {LinkClass::LEAF, LinkClass::SPINE, LinkClass::CORE})
    if (const double share = fair_share_Bps(c); nic > 0.0 && share > 0.0) worst = std::max(worst, nic / share);
  return worst;
}

bool Topology::single_path() const {
  std::vector<int> up(boost::num_vertices(graph_), 0);
  for (auto e : boost::make_iterator_range(boost::edges(graph_))) {
    const auto u = boost::source(e, graph_), v = boost::target(e, graph_);
    const bool switches = is_network_switch(graph_[u].kind) && is_network_switch(graph_[v].kind);
    if (switches && graph_[v].level > graph_[u].level && ++up[u] > 1) return false;
  }
  return true;
}

void Topology::index_switch_edges() {
  switch_edges_begin_.assign(1, 0);
  switch_edge_target_slot_.clear();
  switch_edge_link_.clear();
  switch_level_.assign(num_network_switches_, 0);
  for (auto v : boost::make_iterator_range(boost::vertices(graph_))) {
    const int slot = switch_slot_[v];
    if (slot < 0) continue;
    // Slots are dense in vertex order, so the table fills slot by slot.
    switch_level_[slot] = graph_[v].level;
    for (auto e : boost::make_iterator_range(boost::out_edges(v, graph_))) {
      const int target = switch_slot_[boost::target(e, graph_)];
      if (target < 0) continue;
      switch_edge_target_slot_.push_back(target);
      switch_edge_link_.push_back(graph_[e].id);
    }
    switch_edges_begin_.push_back(static_cast<int>(switch_edge_link_.size()));
  }
  candidate_run_.assign(leaves_.size() * num_network_switches_, NO_RUN);
  for (std::size_t leaf = 0; leaf < leaves_.size(); ++leaf) {
    const std::uint8_t* row = &distance_[leaf * num_network_switches_];
    for (int slot = 0; slot < num_network_switches_; ++slot) {
      const int begin = switch_edges_begin_[slot], end = switch_edges_begin_[slot + 1];
      int first = -1, last = -1, count = 0;
      for (int e = begin; e < end; ++e) {
        if (row[switch_edge_target_slot_[e]] + 1 != row[slot]) continue;
        if (first < 0) first = e;
        last = e;
        ++count;
      }
      if (count > 0 && last - first + 1 == count && first - begin < 0xffff && count < 0xffff)
        candidate_run_[leaf * num_network_switches_ + slot] =
            static_cast<std::uint32_t>(first - begin) | (static_cast<std::uint32_t>(count) << 16);
    }
  }
}

void Topology::prepare_ecmp() {
  // Rank of each GPU among the GPUs whose NIC hangs off the same leaf, in GPU order.
  rank_under_leaf_.assign(gpus_.size(), 0);
  std::vector<int> seen_under_leaf(leaves_.size(), 0);
  for (std::size_t g = 0; g < gpus_.size(); ++g) {
    const int leaf = leaf_of_gpu(static_cast<int>(g));
    if (leaf >= 0) rank_under_leaf_[g] = seen_under_leaf[leaf]++;
  }
  // Switches per level (level 0 counts NICs) give the GPUs under one switch of each level.
  std::vector<int> per_level(1, static_cast<int>(nics_.size()));
  for (auto v : boost::make_iterator_range(boost::vertices(graph_))) {
    if (!is_network_switch(graph_[v].kind)) continue;
    const auto level = static_cast<std::size_t>(graph_[v].level);
    if (per_level.size() <= level) per_level.resize(level + 1, 0);
    ++per_level[level];
  }
  ecmp_stride_.assign(per_level.size() + 1, 1);
  for (std::size_t level = 1; level < ecmp_stride_.size(); ++level) {
    const int below = per_level[level - 1];
    ecmp_stride_[level] = below > 0 ? std::max(1, num_gpus() / below) : 1;
  }
}

const TopologyLink& Topology::link(int id) const { return links_.at(id).link; }

std::pair<VertexId, VertexId> Topology::link_endpoints(int id) const {
  const StoredLink& stored = links_.at(id);
  return {stored.source, stored.target};
}

std::array<int, NUM_LINK_CLASSES> Topology::links_by_class() const {
  std::array<int, NUM_LINK_CLASSES> counts{};
  for (std::size_t id = 0; id < links_.size(); id += 2)
    ++counts[static_cast<std::size_t>(links_[id].link.link_class)];
  return counts;
}

std::string Topology::vertex_name(VertexId v) const {
  const TopologyVertex& vertex = graph_[v];
  return fmt::format("{}{}", to_string(vertex.kind), vertex.index);
}

int Topology::leaf_of_gpu(int gpu) const {
  const int nic = gpus_.at(gpu).nic;
  return nic < 0 ? -1 : nics_[nic].leaf;
}

int Topology::next_hop_link(VertexId at, int target_leaf, int src, int dst) const {
  const std::size_t row_start = static_cast<std::size_t>(target_leaf) * num_network_switches_;
  const int slot = switch_slot_[at];
  const int begin = switch_edges_begin_[slot];
  if (const std::uint32_t run = candidate_run_[row_start + slot]; run != NO_RUN) {
    const int count = static_cast<int>(run >> 16);
    int pick = 0;
    if (count > 1) {
      const int level = switch_level_[slot];
      const int stride = level < static_cast<int>(ecmp_stride_.size()) ? ecmp_stride_[level] : 1;
      pick = (rank_under_leaf_[src] + dst / stride) % count;
    }
    return switch_edge_link_[begin + static_cast<int>(run & 0xffff) + pick];
  }
  const std::uint8_t* row = &distance_[row_start];
  const std::uint8_t here = row[slot];
  const int end = switch_edges_begin_[slot + 1];
  int count = 0;
  for (int e = begin; e < end; ++e) count += row[switch_edge_target_slot_[e]] + 1 == here;
  if (count == 0)
    throw std::logic_error(fmt::format("no route from {} to leaf{}", vertex_name(at), target_leaf));
  int pick = 0;
  if (count > 1) {
    const int level = switch_level_[slot];
    const int stride = level < static_cast<int>(ecmp_stride_.size()) ? ecmp_stride_[level] : 1;
    pick = (rank_under_leaf_[src] + dst / stride) % count;
  }
  for (int e = begin; e < end; ++e)
    if (row[switch_edge_target_slot_[e]] + 1 == here && pick-- == 0) return switch_edge_link_[e];
  return -1;  // unreachable: pick < count
}

void Topology::append_route(int src, int dst, std::vector<int>& out) const {
  if (!finalized_) throw std::logic_error("Topology::route before finalize()");
  if (src == dst) return;
  const GpuAttachment& from = gpus_.at(src);
  const GpuAttachment& to = gpus_.at(dst);
  if (graph_[from.vertex].node == graph_[to.vertex].node) {
    out.push_back(from.fabric_up);
    out.push_back(to.fabric_down);
    return;
  }
  for (int id : from.to_nic)
    if (id >= 0) out.push_back(id);
  const NicAttachment& src_nic = nics_[from.nic];
  const NicAttachment& dst_nic = nics_[to.nic];
  out.push_back(src_nic.leaf_up);
  VertexId at = leaves_[src_nic.leaf];
  while (at != leaves_[dst_nic.leaf]) {
    const int id = next_hop_link(at, dst_nic.leaf, src, dst);
    out.push_back(id);
    at = links_[id].target;
  }
  out.push_back(dst_nic.leaf_down);
  for (int id : to.from_nic)
    if (id >= 0) out.push_back(id);
}

std::vector<int> Topology::route(int src, int dst) const {
  std::vector<int> links;
  links.reserve(12);
  append_route(src, dst, links);
  return links;
}

PathInfo Topology::summarize(const std::vector<int>& route, int src, int dst) const {
  PathInfo info;
  int top_level = 0;
  info.bottleneck_Bps = route.empty() ? 0.0 : std::numeric_limits<double>::infinity();
  info.fair_share_Bps = info.bottleneck_Bps;
  for (int id : route) {
    const TopologyLink& l = links_[id].link;
    ++info.hops;
    info.network_hops += is_network_link(l.link_class) ? 1 : 0;
    info.bottleneck_Bps = std::min(info.bottleneck_Bps, l.bandwidth_Bps);
    info.fair_share_Bps = std::min(info.fair_share_Bps, fair_share_Bps_[static_cast<std::size_t>(l.link_class)]);
    info.latency_s += l.latency_s;
    top_level = std::max(top_level, graph_[links_[id].target].level);
  }
  if (node_of_gpu(src) == node_of_gpu(dst)) info.tier = Tier::INTRA_NODE;
  else if (top_level <= 1) info.tier = Tier::LEAF;
  else if (top_level == 2) info.tier = Tier::SPINE;
  else info.tier = Tier::CORE;
  return info;
}

PathInfo Topology::path_info(int src, int dst) const { return summarize(route(src, dst), src, dst); }

}  // namespace comet
