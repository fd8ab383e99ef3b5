// The flow engine's coalescing (sim/engine/flow_coalescing.hpp) on a 128-GPU non-blocking
// fat-tree (16 DGX-like nodes, 4 per leaf, 32 spines): bytes are kept, each source group's
// pooled first hop is the sum of its members' NIC paths, and group flows spread over every leaf
// uplink (they used half of them when every flow left from the rail GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "flow_coalescing.hpp"
#include "test_support.hpp"

namespace comet {
namespace {

Topology fat_tree_128() {
  return testing::topology_from_yaml("name: t\nkind: fat-tree\n" + testing::node_yaml(8) +
                                     "fat_tree: {down: [32, 4], up: [1, 32]}\n");
}

TransferMatrix uniform(int gpus, double bytes) {
  TransferMatrix m;
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d)
      if (s != d) m.transfers.push_back({s, d, bytes});
  return m;
}

TEST(FlowCoalescing, KeepsBytesAndPoolsEachGroupsNics) {
  const Topology t = fat_tree_128();
  const CostModel model = CostModel::defaults_for("h100-sxm");
  const FlowCoalescer coalescer(t, model);
  const CoalescedOp op = coalescer.coalesce(uniform(128, 1e6), false);
  auto total = [](const std::vector<Flow>& flows) {
    return std::accumulate(flows.begin(), flows.end(), 0.0, [](double s, const Flow& f) { return s + f.bytes; });
  };
  EXPECT_DOUBLE_EQ(total(op.flows), 128.0 * 127 * 1e6);
  EXPECT_DOUBLE_EQ(total(op.node_flows), 128.0 * 127 * 1e6);
  // Inside nodes: 16 nodes x 56 GPU pairs. Between nodes: one group per (leaf, rail), 4 x 8,
  // each with a flow to every node's GPU on its rail (members send to each other too).
  const int inside = 16 * 56, groups = 4 * 8;
  EXPECT_EQ(coalescer.num_endpoints(), 128 + 2 * groups);  // a virtual source and destination per group
  EXPECT_EQ(static_cast<int>(op.flows.size()), inside + groups * 16);
  EXPECT_EQ(static_cast<int>(op.node_flows.size()), inside + 16 * 15 * 8);
  // A pooled first hop: 4 members x min(PCIe 64 GB/s x 0.85, NIC 50 GB/s x 0.90).
  const auto efficiency = [&](LinkClass c) { return model.link_efficiency[static_cast<std::size_t>(c)]; };
  const double member = std::min(64e9 * efficiency(LinkClass::PCIE), 50e9 * efficiency(LinkClass::NIC));
  for (int id = t.num_directed_links(); id < coalescer.num_links(); ++id)
    EXPECT_NEAR(coalescer.link(id).Bps, 4 * member, 1.0) << id;
}

// Every leaf uplink carries the same bytes under a uniform all-to-all, on the non-blocking tree
// (32 uplinks per leaf) and oversubscribed 2:1 (16) and 4:1 (8).
TEST(FlowCoalescing, GroupFlowsSpreadOverEveryLeafUplink) {
  for (const int uplinks_per_leaf : {32, 16, 8}) {
    SCOPED_TRACE(::testing::Message() << uplinks_per_leaf << " uplinks per leaf");
    const Topology t = testing::topology_from_yaml("name: t\nkind: fat-tree\n" + testing::node_yaml(8) +
                                                   "fat_tree: {down: [32, 4], up: [1, " + std::to_string(uplinks_per_leaf) + "]}\n");
    const CostModel model = CostModel::defaults_for("h100-sxm");
    const FlowCoalescer coalescer(t, model);
    const CoalescedOp op = coalescer.coalesce(uniform(128, 1e6), false);
    std::vector<double> bytes(t.num_directed_links(), 0.0);
    for (const Flow& f : op.flows)
      for (int id : coalescer.route(f.src, f.dst))
        if (id < t.num_directed_links()) bytes[id] += f.bytes;
    std::vector<double> uplinks;
    for (int id = 0; id < t.num_directed_links(); ++id) {
      const auto [from, to] = t.link_endpoints(id);
      if (t.graph()[from].kind == VertexKind::LEAF && t.graph()[to].kind == VertexKind::SPINE) uplinks.push_back(bytes[id]);
    }
    ASSERT_EQ(uplinks.size(), 4u * uplinks_per_leaf);
    const double mean = std::accumulate(uplinks.begin(), uplinks.end(), 0.0) / uplinks.size();
    EXPECT_DOUBLE_EQ(mean, 96e6 * 32 / uplinks_per_leaf);  // a leaf's 32 GPUs each send 1 MB to 96 GPUs
    const auto [low, high] = std::minmax_element(uplinks.begin(), uplinks.end());
    std::printf("%d uplinks per leaf: uplink bytes / mean %.3f .. %.3f\n", uplinks_per_leaf, *low / mean, *high / mean);
    EXPECT_GT(*low, 0.95 * mean);
    EXPECT_LT(*high, 1.05 * mean);
  }
}

}  // namespace
}  // namespace comet
