// Generators against hand-computed counts, paths and bandwidths; routing invariants.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bisection.hpp"
#include "path_costs.hpp"
#include "test_support.hpp"

namespace comet {
namespace {

using testing::node_yaml;
using testing::shipped_topology;
using testing::topology_from_yaml;

const char* const SHIPPED[] = {"dgx-h100", "nvlink-2gpu", "tree-1024", "fat-tree-1024", "rail-1024", "fat-tree-10240"};

TEST(FatTree, K16ThreeTierCountsMatchTheFormulas) {
  const Topology t = shipped_topology("fat-tree-1024");
  // k-ary 3-tier: k^3/4 hosts, k^2/2 edge + k^2/2 aggregation + k^2/4 core switches.
  EXPECT_EQ(t.num_vertices_of(VertexKind::NIC), 16 * 16 * 16 / 4);
  EXPECT_EQ(t.num_switches(), 320);
  EXPECT_EQ(t.num_vertices_of(VertexKind::LEAF), 128);
  EXPECT_EQ(t.num_vertices_of(VertexKind::SPINE), 128);
  EXPECT_EQ(t.num_vertices_of(VertexKind::CORE), 64);
  EXPECT_EQ(t.num_gpus(), 1024);
  EXPECT_EQ(t.num_nodes(), 128);
}

TEST(FatTree, PathsCrossTheExpectedSwitchHops) {
  const Topology t = shipped_topology("fat-tree-1024");
  // Leaf = one node of 8 NICs; pod = 8 leaves = 64 GPUs.
  const PathInfo cross_pod = t.path_info(0, 1023);
  EXPECT_EQ(cross_pod.tier, Tier::CORE);
  EXPECT_EQ(cross_pod.network_hops, 6);  // nic-leaf, leaf-agg, agg-core, core-agg, agg-leaf, leaf-nic
  EXPECT_EQ(cross_pod.hops, 8);          // plus GPU->NIC and NIC->GPU
  const PathInfo same_pod = t.path_info(0, 8);
  EXPECT_EQ(same_pod.tier, Tier::SPINE);
  EXPECT_EQ(same_pod.network_hops, 4);
  const PathInfo same_node = t.path_info(0, 7);
  EXPECT_EQ(same_node.tier, Tier::INTRA_NODE);
  EXPECT_EQ(same_node.hops, 2);
  EXPECT_DOUBLE_EQ(same_node.bottleneck_Bps, 450e9);
  EXPECT_DOUBLE_EQ(cross_pod.bottleneck_Bps, 50e9);
  // 2 x pcie 0.5us + 2 x nic 1us + 4 x (leaf or spine) 0.5us
  EXPECT_NEAR(cross_pod.latency_s, 5e-6, 1e-12);
}

TEST(FatTree, TwoTierLeafSpineCounts) {
  // k = 8, 2 tiers: 8 leaves of 4 hosts, 4 spines; 32 hosts = 8 nodes of 4 GPUs.
  const Topology t = topology_from_yaml("name: t\nkind: fat-tree\n" + node_yaml(4) + "fat_tree: {k: 8, tiers: 2}\n");
  EXPECT_EQ(t.num_vertices_of(VertexKind::LEAF), 8);
  EXPECT_EQ(t.num_vertices_of(VertexKind::SPINE), 4);
  EXPECT_EQ(t.num_vertices_of(VertexKind::CORE), 0);
  EXPECT_EQ(t.num_gpus(), 32);
  EXPECT_EQ(t.path_info(0, 31).tier, Tier::SPINE);
  EXPECT_EQ(t.path_info(0, 31).network_hops, 4);
}

// Every leaf's traffic to other leaves, for all GPU pairs, spread over its uplinks by ECMP.
void expect_uplinks_balanced(const Topology& t, LinkClass uplink_class, double tolerance) {
  std::vector<double> bytes(t.num_directed_links(), 0.0);
  std::vector<int> route;
  for (int src = 0; src < t.num_gpus(); ++src)
    for (int dst = 0; dst < t.num_gpus(); ++dst) {
      route.clear();
      t.append_route(src, dst, route);
      for (int id : route) bytes[id] += 1.0;
    }
  // Group upward links of the class by their lower switch.
  std::map<VertexId, std::vector<double>> by_switch;
  for (int id = 0; id < t.num_directed_links(); ++id) {
    if (t.link(id).link_class != uplink_class) continue;
    const auto [from, to] = t.link_endpoints(id);
    if (t.graph()[from].level < t.graph()[to].level) by_switch[from].push_back(bytes[id]);
  }
  ASSERT_FALSE(by_switch.empty());
  for (const auto& [vertex, loads] : by_switch) {
    ASSERT_GT(loads.size(), 1u);
    double mean = 0.0;
    for (double l : loads) mean += l;
    mean /= static_cast<double>(loads.size());
    ASSERT_GT(mean, 0.0);
    for (double l : loads)
      EXPECT_LE(std::abs(l - mean) / mean, tolerance) << t.vertex_name(vertex) << " uplink load " << l << " vs mean " << mean;
  }
}

TEST(FatTree, EcmpSpreadsAllPairsTrafficOverLeafUplinksWithinTenPercent) {
  const Topology t = shipped_topology("fat-tree-1024");
  expect_uplinks_balanced(t, LinkClass::LEAF, 0.10);
  expect_uplinks_balanced(t, LinkClass::SPINE, 0.10);
}

TEST(Rail, EcmpSpreadsOverSpines) {
  expect_uplinks_balanced(shipped_topology("rail-1024"), LinkClass::LEAF, 0.10);
}

TEST(Tree, CountsUplinkBandwidthAndBisection) {
  const Topology t = shipped_topology("tree-1024");
  EXPECT_EQ(t.num_vertices_of(VertexKind::LEAF), 32);
  EXPECT_EQ(t.num_vertices_of(VertexKind::SPINE), 1);
  // Leaf: 4 nodes x 8 NICs x 50 GB/s = 1.6 TB/s down; 4:1 -> 400 GB/s uplink.
  for (int id = 0; id < t.num_directed_links(); ++id)
    if (t.link(id).link_class == LinkClass::LEAF) {
      EXPECT_DOUBLE_EQ(t.link(id).bandwidth_Bps, 400e9);
    }
  // Half the GPUs are under 16 leaves, whose 16 uplinks carry everything across: 6.4 TB/s.
  EXPECT_DOUBLE_EQ(bisection_bandwidth_Bps(t), 16 * 400e9);
  EXPECT_EQ(t.path_info(0, 8).tier, Tier::LEAF);      // another node on the same leaf
  EXPECT_EQ(t.path_info(0, 8).network_hops, 2);
  EXPECT_EQ(t.path_info(0, 32).tier, Tier::SPINE);    // the next leaf, through the root
}

TEST(Tree, ThreeLevelsWithOversubscriptionPerLevel) {
  // 2 nodes per leaf, 3 leaves per spine, 2 spines under a core: 12 nodes of 2 GPUs.
  const Topology t = topology_from_yaml("name: t\nkind: tree\n" + node_yaml(2) +
                                        "tree: {fan_out: [2, 3, 2], oversubscription: [2, 3]}\n");
  EXPECT_EQ(t.num_nodes(), 12);
  EXPECT_EQ(t.num_vertices_of(VertexKind::LEAF), 6);
  EXPECT_EQ(t.num_vertices_of(VertexKind::SPINE), 2);
  EXPECT_EQ(t.num_vertices_of(VertexKind::CORE), 1);
  // Leaf down 4 x 50 = 200 GB/s, /2 -> 100 GB/s; spine down 3 x 100 = 300, /3 -> 100 GB/s.
  // The bisection cut {spine 0} | {spine 1} crosses one spine uplink: 100 GB/s.
  EXPECT_DOUBLE_EQ(bisection_bandwidth_Bps(t), 100e9);
  EXPECT_EQ(t.path_info(0, t.num_gpus() - 1).tier, Tier::CORE);
}

TEST(FatTree, OversubscribedBisectionIsWhatTheUplinksCarry) {
  // k = 16 with 2:1 at the leaves: leaf uplinks 8 x 50 / (8 x 2) = 25 GB/s, aggregation
  // uplinks 8 x 25 / 8 = 25 GB/s. Half the pods (8 x 8 aggregations x 8 uplinks) cross: 12.8 TB/s.
  const Topology t = topology_from_yaml("name: t\nkind: fat-tree\n" + node_yaml(8) +
                                        "fat_tree: {k: 16, tiers: 3, oversubscription: [2, 1]}\n");
  EXPECT_DOUBLE_EQ(bisection_bandwidth_Bps(t), 8 * 8 * 8 * 25e9);
  EXPECT_DOUBLE_EQ(bisection_bandwidth_Bps(shipped_topology("fat-tree-1024")), 512 * 50e9);
}

TEST(Rail, SameRailStaysOnTheLeafOtherRailsCrossASpine) {
  const Topology t = shipped_topology("rail-1024");
  EXPECT_EQ(t.num_vertices_of(VertexKind::LEAF), 32);
  EXPECT_EQ(t.num_vertices_of(VertexKind::SPINE), 32);
  EXPECT_EQ(t.path_info(0, 8).tier, Tier::LEAF);        // GPU 0 of node 0 -> GPU 0 of node 1
  EXPECT_EQ(t.path_info(0, 8).network_hops, 2);
  EXPECT_EQ(t.path_info(0, 9).tier, Tier::SPINE);       // rail 0 -> rail 1
  EXPECT_EQ(t.path_info(0, 32 * 8).tier, Tier::SPINE);  // same rail, next group of 32 nodes
  EXPECT_EQ(t.path_info(0, 9).network_hops, 4);
}

TEST(Node, SingleNodeHasNoNetwork) {
  const Topology t = shipped_topology("dgx-h100");
  EXPECT_EQ(t.num_gpus(), 8);
  EXPECT_EQ(t.num_switches(), 0);
  EXPECT_FALSE(t.has_network());
  EXPECT_DOUBLE_EQ(bisection_bandwidth_Bps(t), 4 * 450e9);
  const Topology pair = shipped_topology("nvlink-2gpu");
  EXPECT_DOUBLE_EQ(bisection_bandwidth_Bps(pair), 450e9);
}

TEST(Node, PcieNodesReachTheirNicThroughTheSwitch) {
  const Topology t = topology_from_yaml(
      "name: t\nkind: tree\nnode: {gpus: 4, fabric: pcie, gpu_link_bandwidth: 32GB/s, nics: 2, "
      "nic_bandwidth: 200Gbps, pcie_bandwidth: 32GB/s}\ntree: {fan_out: [2]}\n");
  const std::vector<int> route = t.route(0, 4);  // node 0 -> node 1 on the same leaf
  ASSERT_EQ(route.size(), 6u);                    // gpu-pcie, pcie-nic, nic-leaf, leaf-nic, nic-pcie, pcie-gpu
  EXPECT_EQ(t.link(route[0]).link_class, LinkClass::PCIE);
  EXPECT_EQ(t.link(route[2]).link_class, LinkClass::NIC);
  EXPECT_DOUBLE_EQ(t.path_info(0, 4).bottleneck_Bps, 25e9);
}

// Routes are connected walks from the source GPU to the destination GPU, the same every time.
TEST(Routing, RoutesAreConnectedDeterministicWalksOnEveryShippedTopology) {
  std::mt19937 random(7);
  for (const char* name : SHIPPED) {
    const Topology t = shipped_topology(name);
    std::uniform_int_distribution<int> gpu(0, t.num_gpus() - 1);
    for (int trial = 0; trial < 2000; ++trial) {
      const int src = gpu(random), dst = gpu(random);
      const std::vector<int> route = t.route(src, dst);
      if (src == dst) {
        EXPECT_TRUE(route.empty());
        continue;
      }
      ASSERT_FALSE(route.empty()) << name;
      EXPECT_EQ(t.link_endpoints(route.front()).first, t.gpu_vertex(src)) << name;
      EXPECT_EQ(t.link_endpoints(route.back()).second, t.gpu_vertex(dst)) << name;
      for (std::size_t i = 1; i < route.size(); ++i)
        ASSERT_EQ(t.link_endpoints(route[i - 1]).second, t.link_endpoints(route[i]).first) << name;
      EXPECT_EQ(t.route(src, dst), route) << name;
    }
  }
}

TEST(PathCosts, AgreeWithRoutedPathsOnEveryShippedTopology) {
  std::mt19937 random(11);
  for (const char* name : SHIPPED) {
    const Topology t = shipped_topology(name);
    const PathCosts costs(t);
    std::uniform_int_distribution<int> gpu(0, t.num_gpus() - 1);
    for (int trial = 0; trial < 3000; ++trial) {
      const int src = gpu(random), dst = src == 0 ? gpu(random) : gpu(random) / 2;
      const PathInfo expected = t.path_info(src, dst);
      const PathInfo& actual = costs(src, dst);
      EXPECT_EQ(actual.tier, expected.tier) << name << " " << src << "->" << dst;
      EXPECT_EQ(actual.hops, expected.hops) << name;
      EXPECT_EQ(actual.network_hops, expected.network_hops) << name;
      EXPECT_DOUBLE_EQ(actual.bottleneck_Bps, expected.bottleneck_Bps) << name;
      EXPECT_DOUBLE_EQ(actual.latency_s, expected.latency_s) << name;
    }
  }
}

TEST(FatTree, TenThousandGpuClusterCounts) {
  const Topology t = shipped_topology("fat-tree-10240");
  EXPECT_EQ(t.num_gpus(), 10240);
  EXPECT_EQ(t.num_vertices_of(VertexKind::LEAF), 320);
  EXPECT_EQ(t.num_vertices_of(VertexKind::SPINE), 320);
  EXPECT_EQ(t.num_vertices_of(VertexKind::CORE), 1024);
  EXPECT_EQ(t.path_info(0, 10239).network_hops, 6);
  EXPECT_DOUBLE_EQ(bisection_bandwidth_Bps(t), 5120 * 50e9);  // non-blocking: half the NICs
}

// One table per (group size, group), built once whichever thread asks first (its routes:
// GroupRoutes.TwinsCarryTheSamePairsAndTheDistinctRoutesKeepOneOfEach).
TEST(GroupRoutes, EachGroupIsBuiltOnce) {
  for (const char* name : {"dgx-h100", "tree-1024", "rail-1024"}) {
    const Topology t = shipped_topology(name);
    const int size = std::min(t.num_gpus(), 64);
    const int last = t.num_gpus() / size - 1;
    for (int group : {0, last}) {
      const GroupRoutes& routes = t.group_routes(size, group);
      EXPECT_EQ(&routes, &t.group_routes(size, group)) << name;
      EXPECT_FALSE(routes.contains(group * size - 1));
      EXPECT_FALSE(routes.contains((group + 1) * size));
    }
    const Topology copy = t;  // copies share the cache
    EXPECT_EQ(&copy.group_routes(size, 0), &t.group_routes(size, 0)) << name;
  }
  const Topology t = shipped_topology("dgx-h100");
  std::vector<const GroupRoutes*> seen(8, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&, i] { seen[i] = &t.group_routes(2, i % 4); });
  for (std::thread& thread : threads) thread.join();
  for (int i = 4; i < 8; ++i) EXPECT_EQ(seen[i], seen[i - 4]);
  EXPECT_THROW(t.group_routes(3, 0), std::invalid_argument);   // 8 GPUs are not groups of 3
  EXPECT_THROW(t.group_routes(2, 4), std::invalid_argument);   // groups 0..3
  EXPECT_THROW(t.group_routes(0, 0), std::invalid_argument);
}

// The cached routes of every group are the routes Topology::route walks, pair by pair, less their
// twin links: each (twin, representative) is crossed by exactly the same pairs of the group; the
// distinct route is the route less its twins, in route order; no two
// distinct links of a group are crossed by the same pairs on these topologies; the route latency is
// its links' added in route order.
TEST(GroupRoutes, TwinsCarryTheSamePairsAndTheDistinctRoutesKeepOneOfEach) {
  for (const char* name : {"fat-tree-1024", "dgx-h100", "tree-1024", "rail-1024"}) {
    const Topology t = shipped_topology(name);
    const int size = std::min(t.num_gpus(), 64);
    for (int group : {0, t.num_gpus() / size - 1}) {
      SCOPED_TRACE(::testing::Message() << name << ", group " << group);
      const GroupRoutes& routes = t.group_routes(size, group);
      std::map<int, std::vector<int>> pairs_of;  // link -> the pairs crossing it, in pair order
      std::set<int> twins;
      for (const auto& [twin, rep] : routes.twins()) {
        EXPECT_LT(rep, twin);
        EXPECT_TRUE(twins.insert(twin).second);
      }
      for (int src = group * size, pair = 0; src < (group + 1) * size; ++src)
        for (int dst = group * size; dst < (group + 1) * size; ++dst, ++pair) {
          const std::vector<int> route = t.route(src, dst);
          std::vector<int> expected;
          double latency = 0.0;
          for (int link : route) {
            pairs_of[link].push_back(pair);
            if (!twins.contains(link)) expected.push_back(link);
            latency += t.link(link).latency_s;
          }
          const std::span<const int> distinct = routes.distinct_links(src, dst);
          ASSERT_EQ(std::vector<int>(distinct.begin(), distinct.end()), expected) << src << "->" << dst;
          ASSERT_EQ(routes.latency_s(src, dst), latency) << src << "->" << dst;
        }
      for (const auto& [twin, rep] : routes.twins()) EXPECT_EQ(pairs_of[twin], pairs_of[rep]) << "link " << twin << " and " << rep;
      std::map<std::vector<int>, int> distinct_sets;
      for (const auto& [link, pairs] : pairs_of) {
        if (twins.contains(link)) continue;
        const auto [alike, inserted] = distinct_sets.emplace(pairs, link);
        EXPECT_TRUE(inserted) << "links " << link << " and " << alike->second << " are twins";
      }
      if (std::string(name) == "fat-tree-1024") {
        EXPECT_FALSE(routes.twins().empty());  // a NIC per GPU: its two links
      }
    }
  }
}

}  // namespace
}  // namespace comet
