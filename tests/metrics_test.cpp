// Metrics on hand-made timelines, where every value can be computed by hand.
#include <gtest/gtest.h>

#include "metrics.hpp"
#include "test_support.hpp"

namespace comet {
namespace {

TEST(Metrics, UnionOfIntervals) {
  EXPECT_DOUBLE_EQ(union_length({}), 0.0);
  EXPECT_DOUBLE_EQ(union_length({{0, 1}, {0.5, 2}, {3, 4}}), 3.0);
  EXPECT_DOUBLE_EQ(union_length({{3, 4}, {0, 1}}), 2.0);
}

TEST(Metrics, ExposedCommunicationAndOverlapByHand) {
  const Topology topology = testing::topology_from_yaml(
      "name: t\nkind: node\nnode: {gpus: 2, fabric: nvswitch, gpu_link_bandwidth: 100GB/s, nics: 0}\n");
  const PathCosts costs(topology);
  Plan plan(PlanHeader{2, 2, 1, 1, 1, 1, "p", "p", "p"});
  Op compute;
  compute.kind = OpKind::EXPERT_GEMM;
  compute.gpu = 0;
  plan.add(compute, {});
  Op a2a;
  a2a.kind = OpKind::ALL_TO_ALL;
  a2a.matrix = plan.add_matrix({{{0, 1, 1e9}}});
  plan.add(a2a, {});
  Timeline t = timeline_for(plan, "hand");
  // GPU 0 computes 0..4 ms; the all-to-all runs 2..6 ms: 2 ms of it is exposed.
  t.ops[0].start_s = 0.0, t.ops[0].end_s = 4e-3;
  t.ops[1].start_s = 2e-3, t.ops[1].end_s = 6e-3;
  t.link_bytes.assign(topology.num_directed_links(), 0.0);
  t.link_bytes[0] = 1e9;
  const Metrics m = compute_metrics(plan, t, topology, costs);
  EXPECT_EQ(m.critical_gpu, 0);
  EXPECT_DOUBLE_EQ(m.makespan_s, 6e-3);
  EXPECT_DOUBLE_EQ(m.compute_s, 4e-3);
  EXPECT_DOUBLE_EQ(m.comm_s, 4e-3);
  EXPECT_DOUBLE_EQ(m.exposed_comm_s, 2e-3);
  EXPECT_DOUBLE_EQ(m.overlap_ratio, 0.5);
  EXPECT_DOUBLE_EQ(m.idle_fraction, 1.0 - 4e-3 / (2 * 6e-3));  // GPU 1 computes nothing
  EXPECT_DOUBLE_EQ(m.bytes_by_tier[0], 1e9);
  EXPECT_DOUBLE_EQ(m.max_link_bytes, 1e9);
  EXPECT_DOUBLE_EQ(m.max_link_utilization, 1e9 / (100e9 * 6e-3));
}

}  // namespace
}  // namespace comet
