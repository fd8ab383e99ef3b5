#include "topology_spec.hpp"

#include <fmt/format.h>

#include <numeric>

namespace comet {
namespace {

constexpr std::int64_t MAX_GPUS = 131072;  // memory for routing tables stays well under 1 GiB

NodeSpec parse_node(const YamlValue& value) {
  const YamlMap map = value.as_map(
      {"gpus", "fabric", "gpu_link_bandwidth", "nics", "nic_bandwidth", "pcie_bandwidth", "gpu"});
  NodeSpec node;
  node.gpus = static_cast<int>(map.required("gpus").as_int(1, 64));
  node.fabric = map.required("fabric").as_choice({"nvswitch", "pcie"}) == "pcie" ? NodeFabric::PCIE
                                                                                  : NodeFabric::NVSWITCH;
  node.gpu_link_Bps = map.required("gpu_link_bandwidth").as_quantity(Dimension::BYTES_PER_SECOND);
  node.nics = static_cast<int>(map.required("nics").as_int(0, 64));
  if (node.nics > 0) {
    node.nic_Bps = map.required("nic_bandwidth").as_quantity(Dimension::BYTES_PER_SECOND);
    node.pcie_Bps = map.required("pcie_bandwidth").as_quantity(Dimension::BYTES_PER_SECOND);
  } else {
    for (const char* key : {"nic_bandwidth", "pcie_bandwidth"})
      if (auto v = map.optional(key)) v->fail("a node without NICs takes no NIC bandwidth; remove it or set nics");
  }
  if (node.nics > node.gpus || (node.nics > 0 && node.gpus % node.nics != 0))
    map.required("nics").fail(
        fmt::format("expected a divisor of the node's {} GPUs (each NIC serves the same number of GPUs)", node.gpus));
  if (auto gpu = map.optional("gpu")) node.gpu_model = gpu->as_choice({"h100-sxm", "h200"});
  return node;
}

void parse_latencies(const YamlValue& value, std::array<double, NUM_LINK_CLASSES>& latency_s) {
  const YamlMap map = value.as_map({"nvlink", "pcie", "nic", "leaf", "spine", "core"});
  for (std::size_t c = 0; c < NUM_LINK_CLASSES; ++c) {
    if (auto v = map.optional(to_string(static_cast<LinkClass>(c))))
      latency_s[c] = v->as_quantity(Dimension::SECONDS, /*allow_zero=*/true);
  }
}

std::vector<double> parse_ratios(const std::optional<YamlValue>& value, std::size_t count,
                                 const std::string& what) {
  if (!value) return std::vector<double>(count, 1.0);
  const std::vector<YamlValue> items = value->as_list();
  if (items.size() != count)
    value->fail(fmt::format("expected a list of {} oversubscription ratios ({})", count, what));
  std::vector<double> ratios;
  for (const YamlValue& item : items) ratios.push_back(item.as_number(0.01, 1000.0));
  return ratios;
}

std::int64_t product(const std::vector<int>& values) {
  return std::accumulate(values.begin(), values.end(), std::int64_t{1},
                         [](std::int64_t a, int b) { return a * b; });
}

std::vector<int> to_ints(const std::vector<std::int64_t>& values) {
  return std::vector<int>(values.begin(), values.end());
}

void check_gpu_count(const YamlValue& where, std::int64_t nodes, const NodeSpec& node) {
  if (nodes * node.gpus > MAX_GPUS)
    where.fail(fmt::format("gives {} GPUs; expected at most {}", nodes * node.gpus, MAX_GPUS));
}

TreeSpec parse_tree(const YamlValue& value, const NodeSpec& node) {
  const YamlMap map = value.as_map({"fan_out", "oversubscription"});
  TreeSpec tree;
  const YamlValue fan_out = map.required("fan_out");
  tree.fan_out = to_ints(fan_out.as_int_list(1, 4096, 8));
  tree.oversubscription = parse_ratios(map.optional("oversubscription"), tree.fan_out.size() - 1,
                                       "one per level below the top");
  check_gpu_count(fan_out, product(tree.fan_out), node);
  return tree;
}

FatTreeSpec parse_fat_tree(const YamlValue& value, const NodeSpec& node) {
  const YamlMap map = value.as_map({"k", "tiers", "down", "up", "oversubscription"});
  FatTreeSpec tree;
  if (map.has("k")) {
    for (const char* key : {"down", "up"})
      if (auto v = map.optional(key)) v->fail("give either k and tiers, or down and up, not both");
    const YamlValue k_value = map.required("k");
    const int k = static_cast<int>(k_value.as_int(2, 256));
    if (k % 2 != 0) k_value.fail("expected an even switch radix k");
    const int tiers = static_cast<int>(map.required("tiers").as_int(2, 3));
    tree.down = tiers == 3 ? std::vector<int>{k / 2, k / 2, k} : std::vector<int>{k / 2, k};
    tree.up = tiers == 3 ? std::vector<int>{1, k / 2, k / 2} : std::vector<int>{1, k / 2};
  } else {
    if (auto v = map.optional("tiers")) v->fail("tiers goes with k; with down and up the tiers are their length");
    const YamlValue down = map.required("down");
    const YamlValue up = map.required("up");
    tree.down = to_ints(down.as_int_list(1, 4096, 6));
    tree.up = to_ints(up.as_int_list(1, 4096, 6));
    if (tree.up.size() != tree.down.size())
      up.fail(fmt::format("expected {} entries, as many as down", tree.down.size()));
    if (tree.up[0] != 1) up.fail("expected up[0] = 1: each NIC is cabled to one leaf");
  }
  tree.oversubscription = parse_ratios(map.optional("oversubscription"), tree.down.size() - 1,
                                       "one per switch level below the top");
  const std::int64_t hosts = product(tree.down);
  if (node.nics == 0 || hosts % node.nics != 0)
    map.self().fail(fmt::format("has {} hosts (NICs); expected a multiple of the node's {} NICs",
                                hosts, node.nics));
  check_gpu_count(map.self(), hosts / node.nics, node);
  return tree;
}

RailSpec parse_rail(const YamlValue& value, const NodeSpec& node) {
  const YamlMap map = value.as_map({"nodes", "nodes_per_leaf", "spines", "oversubscription"});
  RailSpec rail;
  const YamlValue nodes = map.required("nodes");
  rail.nodes = static_cast<int>(nodes.as_int(1, MAX_GPUS));
  const YamlValue per_leaf = map.required("nodes_per_leaf");
  rail.nodes_per_leaf = static_cast<int>(per_leaf.as_int(1, 4096));
  rail.spines = static_cast<int>(map.required("spines").as_int(1, 4096));
  if (auto r = map.optional("oversubscription")) rail.oversubscription = r->as_number(0.01, 1000.0);
  if (rail.nodes % rail.nodes_per_leaf != 0)
    per_leaf.fail(fmt::format("expected a divisor of nodes ({})", rail.nodes));
  if (node.nics != node.gpus)
    map.self().fail(fmt::format("a rail-optimized cluster needs one NIC per GPU; node has {} GPUs and {} NICs",
                                node.gpus, node.nics));
  check_gpu_count(nodes, rail.nodes, node);
  return rail;
}

}  // namespace

std::string_view to_string(TopologyKind kind) {
  switch (kind) {
    case TopologyKind::NODE: return "node";
    case TopologyKind::TREE: return "tree";
    case TopologyKind::FAT_TREE: return "fat-tree";
    case TopologyKind::RAIL_OPTIMIZED: return "rail-optimized";
  }
  return "?";
}

TopologySpec parse_topology_spec(const YamlValue& value) {
  const YamlMap map = value.as_map({"name", "kind", "node", "latency", "tree", "fat_tree", "rail"});
  TopologySpec spec;
  spec.origin = value.file();
  spec.name = map.required("name").as_string();
  const std::string kind = map.required("kind").as_choice({"node", "tree", "fat-tree", "rail-optimized"});
  spec.kind = kind == "tree"             ? TopologyKind::TREE
              : kind == "fat-tree"       ? TopologyKind::FAT_TREE
              : kind == "rail-optimized" ? TopologyKind::RAIL_OPTIMIZED
                                         : TopologyKind::NODE;
  spec.node = parse_node(map.required("node"));
  if (auto latency = map.optional("latency")) parse_latencies(*latency, spec.latency_s);

  // Exactly the layout section of this kind; another kind's section is a mistake.
  const std::pair<const char*, TopologyKind> sections[] = {
      {"tree", TopologyKind::TREE}, {"fat_tree", TopologyKind::FAT_TREE}, {"rail", TopologyKind::RAIL_OPTIMIZED}};
  for (const auto& [key, owner] : sections) {
    if (owner == spec.kind) continue;
    if (auto section = map.optional(key))
      throw InputError(section->location(), section->path(), "",
                       fmt::format("section '{}' does not belong to kind '{}'", key, kind));
  }
  switch (spec.kind) {
    case TopologyKind::NODE: break;
    case TopologyKind::TREE: spec.tree = parse_tree(map.required("tree"), spec.node); break;
    case TopologyKind::FAT_TREE: spec.fat_tree = parse_fat_tree(map.required("fat_tree"), spec.node); break;
    case TopologyKind::RAIL_OPTIMIZED: spec.rail = parse_rail(map.required("rail"), spec.node); break;
  }
  if (spec.kind != TopologyKind::NODE && spec.node.nics == 0)
    map.required("node").fail(fmt::format("a {} cluster needs NICs; expected node.nics >= 1", kind));
  return spec;
}

}  // namespace comet
