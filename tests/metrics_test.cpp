// Metrics on hand-made timelines, where every value can be computed by hand.
#include <gtest/gtest.h>

#include "metrics.hpp"
#include "test_support.hpp"

namespace comet {
namespace {

// One node of `gpus` GPUs on an NVSwitch, 100 GB/s per GPU link.
Topology node_topology(int gpus) {
  return testing::topology_from_yaml("name: t\nkind: node\nnode: {gpus: " + std::to_string(gpus) +
                                     ", fabric: nvswitch, gpu_link_bandwidth: 100GB/s, nics: 0}\n");
}

TEST(Metrics, UnionOfIntervals) {
  EXPECT_DOUBLE_EQ(union_length({}), 0.0);
  EXPECT_DOUBLE_EQ(union_length({{0, 1}, {0.5, 2}, {3, 4}}), 3.0);
  EXPECT_DOUBLE_EQ(union_length({{3, 4}, {0, 1}}), 2.0);
}

TEST(Metrics, ExposedCommunicationAndOverlapByHand) {
  const Topology topology = node_topology(2);
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
  // No effective bandwidth or busy time in this Timeline: raw bandwidth, over the run.
  EXPECT_DOUBLE_EQ(m.max_link_mean_utilization, 1e9 / (100e9 * 6e-3));
  EXPECT_DOUBLE_EQ(m.max_link_busy_utilization, 1e9 / (100e9 * 6e-3));
  // An engine's Timeline says what the link could carry (90 GB/s) and for how long it was busy
  // (the all-to-all's 4 ms): 2e8 B take 2.22 ms at 90 GB/s, 37% of the 6 ms run, 56% of 4 ms.
  t.link_bytes[0] = 2e8;
  t.link_effective_Bps.assign(topology.num_directed_links(), 90e9);
  t.link_busy_s.assign(topology.num_directed_links(), 0.0);
  t.link_busy_s[0] = 4e-3;
  const Metrics e = compute_metrics(plan, t, topology, costs);
  EXPECT_DOUBLE_EQ(e.max_link_mean_utilization, 2e8 / 90e9 / 6e-3);
  EXPECT_DOUBLE_EQ(e.max_link_busy_utilization, 2e8 / 90e9 / 4e-3);
}

// Two GPUs, GPU 1 holding the hot expert: its GEMM takes 5 ms where GPU 0's takes 1 ms, and the
// combine all-to-all waits for both. GPU 0 ends the run, so it is the critical GPU; its 4 ms wait
// for GPU 1 is imbalance, not communication.
TEST(Metrics, AHotGpusWaitIsImbalanceNotCommunication) {
  const Topology topology = node_topology(2);
  const PathCosts costs(topology);
  Plan plan(PlanHeader{2, 2, 1, 1, 1, 1, "p", "p", "p"});
  auto compute = [&](OpKind kind, int gpu, std::vector<std::int32_t> deps) {
    Op op;
    op.kind = kind;
    op.gpu = gpu;
    return plan.add(op, deps);
  };
  const std::int32_t gate0 = compute(OpKind::GATE, 0, {}), gate1 = compute(OpKind::GATE, 1, {});
  const std::int32_t gemm0 = compute(OpKind::EXPERT_GEMM, 0, {gate0}), gemm1 = compute(OpKind::EXPERT_GEMM, 1, {gate1});
  Op a2a;
  a2a.kind = OpKind::ALL_TO_ALL;
  a2a.tags.phase = A2aPhase::COMBINE;
  a2a.matrix = plan.add_matrix({{{1, 0, 1e8}}});
  const std::int32_t combine = plan.add(a2a, std::vector<std::int32_t>{gemm0, gemm1});
  const std::int32_t unpermute = compute(OpKind::UNPERMUTE, 0, {combine});
  Timeline t = timeline_for(plan, "hand");
  auto at = [&](std::int32_t op, double start_ms, double end_ms) { t.ops[op].start_s = start_ms * 1e-3, t.ops[op].end_s = end_ms * 1e-3; };
  at(gate0, 0, 1), at(gate1, 0, 1), at(gemm0, 1, 2), at(gemm1, 1, 6), at(combine, 6, 7), at(unpermute, 7, 8);
  const Metrics m = compute_metrics(plan, t, topology, costs);
  EXPECT_EQ(m.critical_gpu, 0);
  const CriticalPath& path = m.critical_path;
  ASSERT_EQ(path.steps.size(), 4u);  // gate1, gemm1, combine, unpermute
  EXPECT_EQ(path.steps[1].op, gemm1);
  EXPECT_NEAR(path.compute_s, 3e-3, 1e-15);    // gate, GPU 0's own 1 ms share of the GEMM, unpermute
  EXPECT_NEAR(path.imbalance_s, 4e-3, 1e-15);  // GPU 1's GEMM beyond GPU 0's
  EXPECT_NEAR(path.all_to_all_s, 1e-3, 1e-15);
  EXPECT_NEAR(path.compute_s + path.all_to_all_s + path.imbalance_s, m.makespan_s, 1e-15);
  EXPECT_NEAR(m.compute_s, 3e-3, 1e-15);  // GPU 0 busy
  EXPECT_NEAR(m.imbalance_s, 4e-3, 1e-15);
  EXPECT_NEAR(m.exposed_comm_s, 1e-3, 1e-15);  // was 5 ms when the wait counted as communication
  EXPECT_NEAR(m.overlap_ratio, 0.0, 1e-12);
}

// Measured times (medians over repeats) can contradict the Plan's order by a little: here op 1
// depends on op 0 but starts first on the same stream. The walk must still end, and the figures
// still add up to the makespan.
TEST(Metrics, CriticalPathEndsOnTimesThatContradictTheOrder) {
  const Topology topology = node_topology(1);
  const PathCosts costs(topology);
  Plan plan(PlanHeader{1, 1, 1, 1, 1, 1, "p", "p", "p"});
  Op op;
  op.kind = OpKind::NON_MOE;
  op.gpu = 0;
  const std::int32_t first = plan.add(op, {});
  const std::int32_t second = plan.add(op, std::vector<std::int32_t>{first});
  Timeline t = timeline_for(plan, "measured");
  t.ops[second].start_s = 0.0, t.ops[second].end_s = 1e-3;
  t.ops[first].start_s = 0.5e-3, t.ops[first].end_s = 2e-3;
  const Metrics m = compute_metrics(plan, t, topology, costs);
  EXPECT_EQ(m.critical_path.steps.size(), 2u);
  EXPECT_NEAR(m.critical_path.compute_s, m.makespan_s, 1e-15);
}

}  // namespace
}  // namespace comet
