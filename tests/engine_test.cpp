// Engines against closed forms: one transfer over one path, two flows sharing it, a uniform
// all-to-all on a non-blocking fat-tree against its NIC bound (also at 128 GPUs, where the flow
// engine coalesces), an oversubscribed tree; overlap
// bounds and determinism. Every test runs on each engine this build has (analytical; phase and
// flow with SimGrid).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "a2a_footprint.hpp"
#include "analytical_engine.hpp"
#include "compute_streams.hpp"
#include "critical_path.hpp"
#include "input_error.hpp"
#include "engine_fixtures.hpp"
#include "executor.hpp"
#include "metrics.hpp"
#include "op_costs.hpp"
#include "plan_builder.hpp"
#include "scenario_plans.hpp"
#include "test_support.hpp"

namespace comet {
namespace {

using testing::engines_under_test;
using testing::ideal_links;

// A plan of all-to-all ops only, each with its own matrix and the given dependencies.
struct TransferPlan {
  Plan plan{PlanHeader{0, 1, 1, 1, 1, 1, "test", "test", "test"}};
  explicit TransferPlan(int gpus) : plan(PlanHeader{gpus, gpus, 1, 1, 1, 1, "test", "test", "test"}) {}
  std::int32_t all_to_all(std::vector<Transfer> transfers, std::vector<std::int32_t> deps = {}) {
    std::sort(transfers.begin(), transfers.end(), [](const Transfer& a, const Transfer& b) {
      return std::pair(a.src, a.dst) < std::pair(b.src, b.dst);
    });
    Op op;
    op.kind = OpKind::ALL_TO_ALL;
    op.matrix = plan.add_matrix({std::move(transfers)});
    return plan.add(op, deps);
  }
};

// Every GPU sends `bytes` to every other GPU.
std::vector<Transfer> uniform_transfers(int gpus, double bytes) {
  std::vector<Transfer> transfers;
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d)
      if (s != d) transfers.push_back({s, d, bytes});
  return transfers;
}

const std::string TWO_GPUS = "name: t\nkind: node\nnode: {gpus: 2, fabric: nvswitch, gpu_link_bandwidth: 100GB/s, nics: 0}\n"
                             "latency: {nvlink: 2us}\n";

TEST(Engines, OneTransferTakesLatencyPlusBytesOverBandwidth) {
  const Topology t = testing::topology_from_yaml(TWO_GPUS);
  const CostModel model = ideal_links();
  TransferPlan p(2);
  p.all_to_all({{0, 1, 1e9}});
  // GPU0 -> NVSwitch -> GPU1: two 100 GB/s links of 2 us each.
  const double expected = 4e-6 + 1e9 / 100e9;
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
    EXPECT_NEAR(timeline.ops[0].end_s - timeline.ops[0].start_s, expected, expected * 1e-6) << engine;
  }
}

TEST(Engines, TwoEqualTransfersSharingALinkTakeTwiceAsLong) {
  const Topology t = testing::topology_from_yaml(TWO_GPUS);
  const CostModel model = ideal_links();
  TransferPlan p(2);
  p.all_to_all({{0, 1, 1e9}});
  p.all_to_all({{0, 1, 1e9}});
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
    for (int op : {0, 1}) EXPECT_NEAR(timeline.ops[op].end_s, 4e-6 + 2e9 / 100e9, 1e-7) << engine;
  }
}

// The analytical engine moves an all-to-all's transfers in step and shares links max-min fair
// between all-to-alls. A (0->1 0.1 GB, 0->3 2 GB) is bound by GPU 0's uplink at 100/2.1 per second;
// B (2->1 1 GB) shares GPU 1's downlink with A and gets what A cannot use there: 100 - 0.1 x 47.6
// GB/s, so it ends after 10.5 ms (proportional sharing gave it 100/1.1 GB/s: 11 ms).
TEST(Engines, AnalyticalSharesLinksMaxMinFair) {
  const Topology t = testing::topology_from_yaml(
      "name: t\nkind: node\nnode: {gpus: 4, fabric: nvswitch, gpu_link_bandwidth: 100GB/s, nics: 0}\nlatency: {nvlink: 2us}\n");
  const CostModel model = ideal_links();
  TransferPlan p(4);
  const std::int32_t a = p.all_to_all({{0, 1, 1e8}, {0, 3, 2e9}});
  const std::int32_t b = p.all_to_all({{2, 1, 1e9}});
  const Timeline timeline = make_executor("analytical")->run(p.plan, t, model);
  const double rate_a = 100e9 / 2.1e9, rate_b = (100e9 - rate_a * 1e8) / 1e9;
  EXPECT_NEAR(timeline.ops[b].end_s, 4e-6 + 1.0 / rate_b, 1e-9);
  EXPECT_NEAR(timeline.ops[a].end_s, 4e-6 + 1.0 / rate_a, 1e-9);  // bound by its uplink throughout
}

TEST(Engines, UniformAllToAllOnANonBlockingFatTreeIsBoundByTheNics) {
  // k = 4, 3 tiers: 16 NICs = 4 nodes of 4 GPUs. Every GPU sends 100 MB to every other GPU.
  const Topology t = testing::topology_from_yaml("name: t\nkind: fat-tree\n" + testing::node_yaml(4) +
                                                 "fat_tree: {k: 4, tiers: 3}\n");
  const CostModel model = ideal_links();
  TransferPlan p(16);
  p.all_to_all(uniform_transfers(16, 100e6));
  // Each NIC carries its GPU's 12 remote-node transfers at 50 GB/s (PCIe 64 GB/s and NVLink do
  // not limit); plus the longest path latency: 2 x pcie + 2 x nic + 4 x switch hops.
  const double bound = 12 * 100e6 / 50e9 + (2 * 0.5 + 2 * 1.0 + 4 * 0.5) * 1e-6;
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
    EXPECT_NEAR(timeline.makespan_s(), bound, 0.02 * bound) << engine;
  }
}

TEST(Engines, UniformAllToAllOn128GpusIsBoundByTheNicsThroughCoalescing) {
  // 16 DGX-like nodes, 4 per leaf, 32 spines: 16K transfers, so the flow engine pools each
  // leaf's NICs per rail (flow_coalescing.hpp). Every GPU sends 10 MB to every other GPU: each
  // NIC carries 15 remote nodes x 8 GPUs x 10 MB at 50 GB/s; the pooled source links and the
  // leaf uplinks (96 transfers' worth each, when spread evenly) do not limit.
  const Topology t = testing::topology_from_yaml("name: t\nkind: fat-tree\n" + testing::node_yaml(8) +
                                                 "fat_tree: {down: [32, 4], up: [1, 32]}\n");
  const CostModel model = ideal_links();
  TransferPlan p(128);
  p.all_to_all(uniform_transfers(128, 10e6));
  const double bound = 120 * 10e6 / 50e9;
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
    EXPECT_NEAR(timeline.makespan_s(), bound, 0.02 * bound) << engine;
  }
}

TEST(Engines, FourToOneOversubscribedTreeIsFourTimesSlowerBetweenLeaves) {
  auto tree = [](int ratio) {
    return testing::topology_from_yaml("name: t\nkind: tree\n" + testing::node_yaml(1) +
                                       "tree: {fan_out: [4, 2], oversubscription: [" + std::to_string(ratio) + "]}\n");
  };
  const CostModel model = ideal_links();
  TransferPlan p(8);
  p.all_to_all({{0, 4, 1e9}, {1, 5, 1e9}, {2, 6, 1e9}, {3, 7, 1e9}});  // leaf 0 -> leaf 1 only
  for (const std::string& engine : engines_under_test()) {
    const double full = make_executor(engine)->run(p.plan, tree(1), model).makespan_s();
    const double over = make_executor(engine)->run(p.plan, tree(4), model).makespan_s();
    EXPECT_NEAR(full, 1e9 / 50e9, 1e-4) << engine;  // each pair at its NIC's 50 GB/s
    EXPECT_NEAR(over / full, 4.0, 0.01) << engine;  // four pairs share one 50 GB/s uplink
  }
}

// A DeepSeek-V3-like layer on 32 GPUs where communication and computation are of similar size.
const std::string LAYER = "name: layer\n" + testing::FAT_TREE_32_TOPOLOGY + R"(model: {preset: deepseek-v3, experts: 32}
parallelism: {expert_parallel: 32}
workload:
  tokens_per_gpu: 8192
  routing: {kind: uniform}
)";

struct Layer : testing::ScenarioPlans {
  Layer() : ScenarioPlans(LAYER, "layer.yaml") {}
  Plan plan(const std::string& partition, const std::string& a2a = "direct") const {
    return ScenarioPlans::plan("contiguous", partition, a2a).plan;
  }
};

// Interference lasts as long as the overlap: a computation of T_c on GPU 0 beside an all-to-all
// bound by GPU 0's link (starting together) slows its transfers to (1 - s) of that link while it
// runs (transfer_slowdown.hpp), so the all-to-all takes s x (T_c - latency) longer, not s / (1 - s)
// of its whole duration. A computation on reserved SMs (fine-grained overlap) leaves the
// transfers alone.
TEST(Engines, AComputationSlowsAnAllToAllOnlyWhileItRuns) {
  const Topology t = testing::topology_from_yaml(TWO_GPUS);
  CostModel model = ideal_links();
  model.comm_slowdown_with_compute = 0.1;
  for (double sm_fraction : {1.0, 0.75}) {
    TransferPlan p(2);
    Op gemm;
    gemm.kind = OpKind::NON_MOE;
    gemm.gpu = 0;
    gemm.flops = 2e11;
    gemm.compute_sm_fraction = sm_fraction;
    p.plan.add(gemm, {});
    const std::int32_t a2a = p.all_to_all({{0, 1, 1e9}, {1, 0, 1e9}});
    const double compute_s = compute_time_s(p.plan, p.plan.ops()[0], model), latency_s = 4e-6;
    const double alone = latency_s + 1e9 / 100e9;
    ASSERT_LT(compute_s, 0.5 * alone) << "the computation must end well before the transfer";
    const double expected = sm_fraction < 1.0 ? alone : alone + 0.1 * (compute_s - latency_s);
    for (const std::string& engine : engines_under_test()) {
      const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
      EXPECT_NEAR(timeline.ops[a2a].end_s - timeline.ops[a2a].start_s, expected, 1e-8)
          << engine << ", computation on " << sm_fraction << " of the SMs";
    }
  }
}

const std::string FOUR_GPUS = "name: t\nkind: node\nnode: {gpus: 4, fabric: nvswitch, gpu_link_bandwidth: 100GB/s, nics: 0}\n"
                              "latency: {nvlink: 2us}\n";

// One all-to-all of two independent pairs, 0 -> 1 (1 GB) and 2 -> 3 (0.1 GB), each followed by
// a computation on the receiving GPU: GPU 3's part ends after 4 us + 1 ms, so its computation
// starts then (analytical, flow), not when GPU 1's part ends 9 ms later. `phase` ends every part
// with the op (documented approximation).
TEST(Engines, EachGpusPartOfAnAllToAllEndsWithItsOwnTransfers) {
  const Topology t = testing::topology_from_yaml(FOUR_GPUS);
  const CostModel model = ideal_links();
  TransferPlan p(4);
  const std::int32_t a2a = p.all_to_all({{0, 1, 1e9}, {2, 3, 1e8}});
  Op gemm;
  gemm.kind = OpKind::EXPERT_GEMM;
  gemm.flops = 1e9;
  gemm.gpu = 1;
  const std::int32_t after_big = p.plan.add(gemm, std::vector<std::int32_t>{a2a});
  gemm.gpu = 3;
  const std::int32_t after_small = p.plan.add(gemm, std::vector<std::int32_t>{a2a});
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
    EXPECT_NEAR(timeline.ops[a2a].end_s, 4e-6 + 1e9 / 100e9, 1e-7) << engine;
    EXPECT_NEAR(timeline.ops[after_big].start_s, 4e-6 + 1e9 / 100e9, 1e-7) << engine;
    const double small_part_s = engine == "phase" ? 4e-6 + 1e9 / 100e9 : 4e-6 + 1e8 / 100e9;
    EXPECT_NEAR(timeline.end_on(a2a, 3), small_part_s, 1e-7) << engine;
    EXPECT_NEAR(timeline.end_on(a2a, 2), small_part_s, 1e-7) << engine;
    EXPECT_NEAR(timeline.ops[after_small].start_s, small_part_s, 1e-7) << engine;
  }
}

// A GPU done with its part of an all-to-all computes beside none of its transfers: its
// computation must not slow the rest of the op (the 0 -> 1 pair runs on alone).
TEST(Engines, AGpuDoneWithItsPartDoesNotSlowTheRestOfTheAllToAll) {
  const Topology t = testing::topology_from_yaml(FOUR_GPUS);
  CostModel model = ideal_links();
  model.comm_slowdown_with_compute = 0.5;
  TransferPlan p(4);
  const std::int32_t a2a = p.all_to_all({{0, 1, 1e9}, {2, 3, 1e8}});
  Op gemm;
  gemm.kind = OpKind::EXPERT_GEMM;
  gemm.gpu = 3;
  gemm.flops = 5e12;  // several ms: it runs while the 0 -> 1 transfer still moves
  const std::int32_t after_small = p.plan.add(gemm, std::vector<std::int32_t>{a2a});
  for (const std::string& engine : engines_under_test()) {
    if (engine == "phase") continue;  // parts end with the op there: nothing runs beside it
    const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
    ASSERT_LT(timeline.ops[after_small].start_s, 0.5 * timeline.ops[a2a].end_s) << engine;
    EXPECT_NEAR(timeline.ops[a2a].end_s, 4e-6 + 1e9 / 100e9, 1e-7) << engine;
  }
}

// A busy GPU slows its own transfers, not the group's collective: a long GEMM on GPU 3, whose
// 0.1 GB part is far from the op's bottleneck, leaves the 1 GB 0 -> 1 transfer (and so the op) as
// it was; the same GEMM on GPU 1, where that transfer ends, slows the op by s x its overlap.
TEST(Engines, ABusyGpuSlowsOnlyItsOwnTransfers) {
  const Topology t = testing::topology_from_yaml(FOUR_GPUS);
  CostModel model = ideal_links();
  model.comm_slowdown_with_compute = 0.2;
  const double latency_s = 4e-6, alone_s = latency_s + 1e9 / 100e9;
  for (std::int32_t busy : {3, 1}) {
    TransferPlan p(4);
    Op gemm;
    gemm.kind = OpKind::NON_MOE;
    gemm.gpu = busy;
    gemm.flops = 2e12;
    const std::int32_t g = p.plan.add(gemm, {});
    const std::int32_t a2a = p.all_to_all({{0, 1, 1e9}, {2, 3, 1e8}});
    const double compute_s = compute_time_s(p.plan, p.plan.ops()[g], model);
    ASSERT_GT(compute_s, 2e-3) << "the GEMM must outlast GPU 3's part";
    ASSERT_LT(compute_s, 0.5 * alone_s);
    const double expected = busy == 3 ? alone_s : alone_s + 0.2 * (compute_s - latency_s);
    for (const std::string& engine : engines_under_test()) {
      const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
      EXPECT_NEAR(timeline.ops[a2a].end_s, expected, 1e-8) << engine << ", GEMM on GPU " << busy;
    }
  }
}

// A computation is slowed by 1 / (1 - comm_sm_share) while an all-to-all runs on its GPU, for as
// long as they overlap: (a) a GEMM running alone when an all-to-all begins beside it slows from
// then on; (b) a GEMM starting beside an all-to-all speeds up again when it ends.
TEST(Engines, AComputationIsSlowedOnlyWhileAnAllToAllRunsBesideIt) {
  const Topology t = testing::topology_from_yaml(FOUR_GPUS);
  CostModel model = ideal_links();
  model.comm_sm_share = 0.5;
  model.memory_kernel_interference = 0.0;
  const double latency_s = 4e-6;
  Op gemm;
  gemm.kind = OpKind::NON_MOE;  // priced by its flops
  gemm.gpu = 0;
  gemm.flops = 2e12;
  Op delay;
  delay.kind = OpKind::NON_MOE;
  delay.gpu = 2;  // outside the all-to-all: never slowed
  delay.flops = 5e11;
  {  // (a) the all-to-all (10 ms) begins after `delay`, while the GEMM runs
    TransferPlan p(4);
    const std::int32_t before = p.plan.add(delay, {});
    const std::int32_t g = p.plan.add(gemm, {});
    p.all_to_all({{0, 1, 1e9}, {1, 0, 1e9}}, {before});
    const double d = compute_time_s(p.plan, p.plan.ops()[before], model), c = compute_time_s(p.plan, p.plan.ops()[g], model);
    ASSERT_LT(d, 0.5 * c);
    for (const std::string& engine : engines_under_test()) {
      const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
      EXPECT_NEAR(timeline.ops[g].end_s, d + (c - d) / 0.5, latency_s + 1e-9) << engine;
    }
  }
  {  // (b) the GEMM begins after `delay`, beside a 1 ms all-to-all
    TransferPlan p(4);
    const std::int32_t a2a = p.all_to_all({{0, 1, 1e8}, {1, 0, 1e8}});
    const std::int32_t before = p.plan.add(delay, {});
    const std::int32_t g = p.plan.add(gemm, std::vector<std::int32_t>{before});
    const double d = compute_time_s(p.plan, p.plan.ops()[before], model), c = compute_time_s(p.plan, p.plan.ops()[g], model);
    for (const std::string& engine : engines_under_test()) {
      const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
      const double a2a_end = timeline.ops[a2a].end_s;
      ASSERT_GT(a2a_end, d) << engine << ": the GEMM must start beside the all-to-all";
      EXPECT_NEAR(timeline.ops[g].start_s, d, 1e-9) << engine;
      EXPECT_NEAR(timeline.ops[g].end_s, a2a_end + (c - 0.5 * (a2a_end - d)), 1e-9) << engine;
    }
  }
}

// Per-message costs: in a uniform all-to-all of 4 GPUs each GPU posts 3 sends and 3 receives, so
// the op starts moving bytes after latency + 6 x a2a_per_message_s, in every engine.
TEST(Engines, AnAllToAllPaysPerMessageForTheGpuThatPostsTheMost) {
  const Topology t = testing::topology_from_yaml(FOUR_GPUS);
  CostModel model = ideal_links();
  model.a2a_per_message_s = 1e-3;
  TransferPlan p(4);
  const std::int32_t a2a = p.all_to_all(uniform_transfers(4, 1e8));
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
    // Each GPU sends 3 x 0.1 GB over its own 100 GB/s link: 3 ms of bytes.
    EXPECT_NEAR(timeline.ops[a2a].end_s, 4e-6 + 6e-3 + 3e8 / 100e9, 1e-7) << engine;
  }
}

// An expert GEMM and two permutes (another stream) on GPU 0, ops 0, 1 and 2, and a model with
// the given memory-kernel interference and rate beside compute work.
struct GemmAndPermutes {
  Op gemm, first, second;
  GemmAndPermutes() {
    gemm.kind = OpKind::EXPERT_GEMM;
    first.kind = second.kind = OpKind::PERMUTE;
    gemm.id = 0, first.id = 1, second.id = 2;
    gemm.gpu = first.gpu = second.gpu = 0;
  }
};
CostModel memory_kernel_model(double interference, double rate_beside_compute) {
  CostModel model = CostModel::defaults_for("h200");
  model.memory_kernel_interference = interference;
  model.memory_kernel_rate_beside_compute = rate_beside_compute;
  return model;
}

// A permute beside a GEMM (another stream of the GPU) costs the compute stream
// memory_kernel_interference x their overlap, whichever of the two was scheduled first.
TEST(ComputeStreams, MemoryKernelsBesideTheComputeStreamCostItTheirOverlap) {
  CostModel model = memory_kernel_model(0.5, 1.0);  // spans as alone
  const GemmAndPermutes ops;
  const Op &gemm = ops.gemm, &permute = ops.first;
  ASSERT_NE(stream_of(gemm), stream_of(permute));
  std::vector<Retimed> retimed;
  {  // the permute first: the GEMM scheduled over it is longer by 0.5 x 2 s
    ComputeStreams streams(1, model);
    EXPECT_EQ(streams.schedule(permute, 2.0, 0.0, retimed), std::make_pair(0.0, 2.0));
    EXPECT_EQ(streams.schedule(gemm, 4.0, 0.0, retimed), std::make_pair(0.0, 5.0));
    EXPECT_EQ(streams.schedule(gemm, 1.0, 0.0, retimed), std::make_pair(5.0, 6.0));  // past the permute: not charged
  }
  {  // the GEMM first: the permute's 2 s beside it make it 1 s longer
    ComputeStreams streams(1, model);
    EXPECT_EQ(streams.schedule(gemm, 4.0, 0.0, retimed), std::make_pair(0.0, 4.0));
    EXPECT_EQ(streams.schedule(permute, 2.0, 1.0, retimed), std::make_pair(1.0, 3.0));
    ASSERT_EQ(retimed.size(), 1u);
    EXPECT_EQ(retimed[0].op, gemm.id);
    EXPECT_EQ(std::make_pair(retimed[0].start_s, retimed[0].end_s), std::make_pair(0.0, 5.0));
    retimed.clear();
    EXPECT_EQ(streams.schedule(gemm, 1.0, 4.0, retimed), std::make_pair(5.0, 6.0));
  }
  {  // a permute past the compute stream's work, and no interference at 0
    ComputeStreams streams(1, model);
    streams.schedule(gemm, 1.0, 0.0, retimed);
    streams.schedule(permute, 2.0, 1.0, retimed);
    EXPECT_EQ(streams.schedule(gemm, 1.0, 3.0, retimed), std::make_pair(3.0, 4.0));
    model.memory_kernel_interference = 0.0;
    ComputeStreams free(1, model);
    free.schedule(permute, 2.0, 0.0, retimed);
    EXPECT_EQ(free.schedule(gemm, 4.0, 0.0, retimed), std::make_pair(0.0, 4.0));
  }
  EXPECT_TRUE(retimed.empty()) << "at rate 1 no kernel's end moves";
}

// Beside compute work a memory kernel runs at rho = memory_kernel_rate_beside_compute of its
// alone rate, and the compute work lasts 0.5 x the alone seconds of kernel work done beside it
// longer (the kernel at rho beside that too); past the compute work, at its alone rate. Closed
// forms with rho = 0.4, in either order.
TEST(ComputeStreams, MemoryKernelsBesideComputeWorkRunAtTheirRateThereAndChargeItTheirWork) {
  const CostModel model = memory_kernel_model(0.5, 0.4);
  const GemmAndPermutes ops;
  const Op &gemm = ops.gemm, &permute = ops.first;
  auto expect_span = [](std::pair<double, double> got, double start, double end) {
    EXPECT_NEAR(got.first, start, 1e-9);
    EXPECT_NEAR(got.second, end, 1e-9);
  };
  {  // the permute (2 s) first: a 3 s GEMM over it lasts D = 3 + 0.5 x 0.4 D = 3.75 s, beside
     // which the permute did 1.5 s of its work; its last 0.5 s after the GEMM
    ComputeStreams streams(1, model);
    std::vector<Retimed> retimed;
    expect_span(streams.schedule(permute, 2.0, 0.0, retimed), 0.0, 2.0);
    expect_span(streams.schedule(gemm, 3.0, 0.0, retimed), 0.0, 3.75);
    ASSERT_EQ(retimed.size(), 1u);
    EXPECT_EQ(retimed[0].op, permute.id);
    expect_span({retimed[0].start_s, retimed[0].end_s}, 0.0, 4.25);
    retimed.clear();
    // The next GEMM (1 s) meets its last 0.5 s: D = 1 + 0.5 x 0.4 D = 1.25, all of it beside.
    expect_span(streams.schedule(gemm, 1.0, 0.0, retimed), 3.75, 5.0);
    ASSERT_EQ(retimed.size(), 1u);
    EXPECT_NEAR(retimed[0].end_s, 3.75 + 0.5 / 0.4, 1e-9);
  }
  {  // the GEMM (4 s) first, the permute at 1 s: the busy window W = 3 + 0.5 x 0.4 W = 3.75 s
     // holds 1.5 s of its work, the GEMM ends 0.75 s later
    ComputeStreams streams(1, model);
    std::vector<Retimed> retimed;
    expect_span(streams.schedule(gemm, 4.0, 0.0, retimed), 0.0, 4.0);
    expect_span(streams.schedule(permute, 2.0, 1.0, retimed), 1.0, 1.0 + 3.75 + 0.5);
    ASSERT_EQ(retimed.size(), 1u);  // the GEMM, 0.75 s longer
    expect_span({retimed[0].start_s, retimed[0].end_s}, 0.0, 4.75);
    retimed.clear();
    expect_span(streams.schedule(gemm, 1.0, 4.0, retimed), 4.75, 6.0);  // and slows its last 0.5 s
    ASSERT_EQ(retimed.size(), 1u);
    EXPECT_NEAR(retimed[0].end_s, 4.75 + 0.5 / 0.4, 1e-9);
  }
  {  // all of it beside a long GEMM: 2 s of work in 5 s, the whole 2 s charged
    ComputeStreams streams(1, model);
    std::vector<Retimed> retimed;
    streams.schedule(gemm, 10.0, 0.0, retimed);
    expect_span(streams.schedule(permute, 2.0, 0.0, retimed), 0.0, 5.0);
    ASSERT_EQ(retimed.size(), 1u);
    expect_span({retimed[0].start_s, retimed[0].end_s}, 0.0, 11.0);
    retimed.clear();
    expect_span(streams.schedule(gemm, 1.0, 0.0, retimed), 11.0, 12.0);
    EXPECT_TRUE(retimed.empty());
  }
}

// A side stream's queued kernels run one after another beside a compute op: one chain of work
// (rho = alpha = 0.5: two 1 s permutes and a 2 s GEMM, D = 2 + 0.5 x 0.5 D = 8/3 s); and at
// rho = alpha = 1 the span is the exact fixed point (all of the kernel's work beside it).
TEST(ComputeStreams, QueuedMemoryKernelsRunAsOneChainBesideAComputeOp) {
  CostModel model = memory_kernel_model(0.5, 0.5);
  const GemmAndPermutes ops;
  const Op &gemm = ops.gemm, &first = ops.first, &second = ops.second;
  {
    ComputeStreams streams(1, model);
    std::vector<Retimed> retimed;
    EXPECT_EQ(streams.schedule(first, 1.0, 0.0, retimed), std::make_pair(0.0, 1.0));
    EXPECT_EQ(streams.schedule(second, 1.0, 0.0, retimed), std::make_pair(1.0, 2.0));
    const auto [start, end] = streams.schedule(gemm, 2.0, 0.0, retimed);
    EXPECT_DOUBLE_EQ(start, 0.0);
    EXPECT_NEAR(end, 8.0 / 3.0, 1e-12);
    std::map<std::int32_t, double> ends;
    for (const Retimed& r : retimed) ends[r.op] = r.end_s;
    EXPECT_NEAR(ends.at(first.id), 2.0, 1e-12);                      // 1 s of work at 0.5
    EXPECT_NEAR(ends.at(second.id), 8.0 / 3.0 + 2.0 / 3.0, 1e-12);  // 1/3 s beside, 2/3 s after
  }
  model.memory_kernel_interference = model.memory_kernel_rate_beside_compute = 1.0;
  ComputeStreams streams(1, model);
  std::vector<Retimed> retimed;
  streams.schedule(first, 2.0, 0.0, retimed);
  EXPECT_EQ(streams.schedule(gemm, 1.0, 0.5, retimed), std::make_pair(0.5, 3.0));  // its last 1.5 s charged
  EXPECT_TRUE(retimed.empty());  // at rate 1 the kernel ends as it was
}

// A memory kernel slowed by communication and sped up when it ends: its priced span follows, so
// compute work after its real end neither pays for it nor moves it.
TEST(ComputeStreams, AMemoryKernelRetimedByCommunicationIsFollowed) {
  CostModel model = memory_kernel_model(0.5, 0.5);
  model.comm_sm_share = 0.5;
  const GemmAndPermutes ops;
  const Op &gemm = ops.gemm, &permute = ops.first, &next_permute = ops.second;
  ComputeStreams streams(1, model);
  std::vector<Retimed> retimed;
  const std::int32_t gpus[] = {0};
  streams.communication_begins(gpus, 0.0, retimed);
  EXPECT_EQ(streams.schedule(permute, 2.0, 0.0, retimed), std::make_pair(0.0, 4.0));  // at half rate
  streams.communication_ends(0, 1.0, retimed);  // 1.5 s of work left at full rate
  ASSERT_EQ(retimed.size(), 1u);
  EXPECT_DOUBLE_EQ(retimed[0].end_s, 2.5);
  retimed.clear();
  EXPECT_EQ(streams.schedule(next_permute, 1.0, 3.0, retimed), std::make_pair(3.0, 4.0));
  // Beside the second only: D = 1 + 0.5 x 0.5 D = 4/3 s, of which 2/3 s of its work.
  const auto [start, end] = streams.schedule(gemm, 1.0, 3.0, retimed);
  EXPECT_DOUBLE_EQ(start, 3.0);
  EXPECT_NEAR(end, 3.0 + 4.0 / 3.0, 1e-9);
  ASSERT_EQ(retimed.size(), 1u);
  EXPECT_EQ(retimed[0].op, next_permute.id);
  EXPECT_NEAR(retimed[0].end_s, 3.0 + 4.0 / 3.0 + 1.0 / 3.0, 1e-9);
}

TEST(Engines, PipeliningOverlapsButNeverBeatsTheBusiestResource) {
  const Layer layer;
  const Plan none = layer.plan("none"), fixed = layer.plan("fixed:4");
  for (const std::string& engine : engines_under_test()) {
    const Timeline serial = make_executor(engine)->run(none, layer.topology, layer.cost_model);
    const Timeline piped = make_executor(engine)->run(fixed, layer.topology, layer.cost_model);
    const Metrics m = compute_metrics(fixed, piped, layer.topology, layer.costs);
    const Metrics s = compute_metrics(none, serial, layer.topology, layer.costs);
    EXPECT_GT(s.comm_s, 0.3 * s.compute_s) << engine << ": the case must have communication to hide";
    EXPECT_LT(m.makespan_s, s.makespan_s) << engine;
    EXPECT_GT(m.overlap_ratio, s.overlap_ratio) << engine;
    // Bounds from the Plan and the cost model alone (not from the Timeline being checked): no GPU's
    // compute stream can finish its ops faster than their costs one after another, and no link
    // can carry what the engine put on it faster than its effective bandwidth.
    std::vector<double> stream_work(layer.topology.num_gpus(), 0.0);
    for (const Op& op : fixed.ops())
      if (op.kind != OpKind::ALL_TO_ALL && stream_of(op) == StreamRole::COMPUTE)
        stream_work[op.gpu] += compute_time_s(fixed, op, layer.cost_model);
    EXPECT_GE(m.makespan_s, *std::max_element(stream_work.begin(), stream_work.end()) * (1 - 1e-9)) << engine;
    ASSERT_EQ(piped.link_bytes.size(), static_cast<std::size_t>(layer.topology.num_directed_links())) << engine;
    for (int link = 0; link < layer.topology.num_directed_links(); ++link)
      EXPECT_GE(m.makespan_s, piped.link_bytes[link] / layer.cost_model.effective_Bps(layer.topology.link(link)) * (1 - 1e-9))
          << engine << " link " << link;
  }
}

TEST(Engines, AgreeWithinTenPercentOnAUniformAllToAll) {
  if (engines_under_test().size() < 2) GTEST_SKIP() << "one engine built: nothing to compare";
  const Layer layer;
  for (const char* a2a : {"direct", "hierarchical"}) {
    const Plan plan = layer.plan("none", a2a);
    std::vector<double> times;
    for (const std::string& engine : engines_under_test())
      times.push_back(make_executor(engine)->run(plan, layer.topology, layer.cost_model).makespan_s());
    const auto [low, high] = std::minmax_element(times.begin(), times.end());
    EXPECT_LE(*high / *low, 1.10) << a2a;
  }
}

TEST(Engines, SameInputsSameTimeline) {
  const Layer layer;
  const Plan plan = layer.plan("fixed:2");
  for (const std::string& engine : engines_under_test()) {
    const Timeline a = make_executor(engine)->run(plan, layer.topology, layer.cost_model);
    const Timeline b = make_executor(engine)->run(plan, layer.topology, layer.cost_model);
    EXPECT_EQ(timeline_to_json(a).dump(), timeline_to_json(b).dump()) << engine;
  }
}

TEST(Engines, IndependentGroupsAgreeAcrossEngines) {
  if (engines_under_test().size() < 2) GTEST_SKIP() << "one engine built: nothing to compare";
  // EP 8 on 8-GPU nodes: four groups whose all-to-alls share no link, simulated as four parts by
  // the phase engine.
  std::string text = LAYER;
  text.replace(text.find("expert_parallel: 32"), 19, "expert_parallel: 8");
  const Scenario scenario = parse_scenario(load_yaml_text(text, "layer.yaml"), ".");
  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const CostModel model = CostModel::defaults_for("h100-sxm");
  const Plan plan = build_plan({&scenario, &topology, &costs, &model, parse_policy(PolicyFamily::PLACEMENT, "contiguous"),
                                parse_policy(PolicyFamily::PARTITION, "fixed:2"), parse_policy(PolicyFamily::A2A, "direct"), 1, 1})
                        .plan;
  std::vector<double> times;
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(plan, topology, model);
    for (const TimelineOp& op : timeline.ops) ASSERT_GT(op.end_s, 0.0) << engine << ": every part was simulated";
    times.push_back(timeline.makespan_s());
  }
  const auto [low, high] = std::minmax_element(times.begin(), times.end());
  EXPECT_LE(*high / *low, 1.10);
}

// The flow engine's fluid network against SimGrid's CM02 (its reference) on whole pipelined
// layers: ragged routing, computations slowing their GPUs' transfers on and off, several
// all-to-alls at once. With every completion its own event (COMET_FLOW_WINDOW=0) every op
// starts and ends at the same time in both, to SimGrid's 1 us completion precision; with the
// default window, within 0.2% of the layer.
TEST(Engines, FlowEnginesFluidNetworkFollowsSimgridOnPipelinedLayers) {
  const auto engines = engines_under_test();
  if (std::find(engines.begin(), engines.end(), "flow") == engines.end()) GTEST_SKIP() << "no SimGrid: no flow engine";
  std::string text = LAYER;
  text.replace(text.find("routing: {kind: uniform}"), 24, "routing: {kind: zipf, alpha: 0.6}");
  const testing::ScenarioPlans layer(text, "layer.yaml");
  for (const auto& [partition, a2a] : {std::pair{"fixed:4", "direct"}, std::pair{"fine", "hierarchical"}}) {
    SCOPED_TRACE(std::string(partition) + " " + a2a);
    const Plan plan = layer.plan("contiguous", partition, a2a).plan;
    ::setenv("COMET_FLOW_NETWORK", "simgrid", 1);
    const Timeline reference = make_executor("flow")->run(plan, layer.topology, layer.cost_model);
    ::setenv("COMET_FLOW_NETWORK", "fluid", 1);
    ::setenv("COMET_FLOW_WINDOW", "0", 1);
    const Timeline exact = make_executor("flow")->run(plan, layer.topology, layer.cost_model);
    ::unsetenv("COMET_FLOW_WINDOW");
    const Timeline windowed = make_executor("flow")->run(plan, layer.topology, layer.cost_model);
    ::unsetenv("COMET_FLOW_NETWORK");
    const double makespan = reference.makespan_s();
    for (std::size_t i = 0; i < reference.ops.size(); ++i) {
      ASSERT_NEAR(exact.ops[i].start_s, reference.ops[i].start_s, 1e-5 * makespan) << "op " << i;
      ASSERT_NEAR(exact.ops[i].end_s, reference.ops[i].end_s, 1e-5 * makespan) << "op " << i;
    }
    EXPECT_NEAR(windowed.makespan_s() / makespan, 1.0, 2e-3);
  }
}

// Pacing on pipelined layers: two chunks' all-to-alls at once on a skewed 64-GPU 4:1 tree, where
// moving transfers in step reads 7-12% below flow. Paced (the op's most loaded links asked
// stretch x its bytes, so an op beside it loses that link's time too), phase and analytical come
// within 5% of flow and closer than unpaced.
const std::string SKEWED_TREE = R"(name: skewed-tree
topology:
  name: tree-64
  kind: tree
  node: {gpus: 8, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 8, nic_bandwidth: 400Gbps, pcie_bandwidth: 64GB/s}
  tree: {fan_out: [4, 2], oversubscription: [4]}
model: {preset: deepseek-v3}
parallelism: {expert_parallel: 64}
workload:
  tokens_per_gpu: 4096
  routing: {kind: zipf, alpha: 0.3}
)";

TEST(Engines, PacedInStepEnginesFollowFlowOnPipelinedSkewedTrees) {
  const auto engines = engines_under_test();
  if (std::find(engines.begin(), engines.end(), "flow") == engines.end()) GTEST_SKIP() << "no SimGrid: no flow engine";
  const testing::ScenarioPlans layer(SKEWED_TREE, "skewed-tree.yaml");
  ASSERT_TRUE(pacing_applies(layer.topology));
  for (const char* partition : {"fixed:2", "fixed:4"}) {
    SCOPED_TRACE(partition);
    const Plan plan = layer.plan("contiguous", partition, "direct").plan;
    const double flow = make_executor("flow")->run(plan, layer.topology, layer.cost_model).makespan_s();
    for (const std::string engine : {"phase", "analytical"}) {
      const double paced = make_executor(engine)->run(plan, layer.topology, layer.cost_model).makespan_s();
      ::setenv("COMET_A2A_PACING", "none", 1);
      const double in_step = make_executor(engine)->run(plan, layer.topology, layer.cost_model).makespan_s();
      ::unsetenv("COMET_A2A_PACING");
      std::printf("%s %s: paced %+.2f%%, in step %+.2f%% of flow %.3f ms\n", partition, engine.c_str(),
                  100.0 * (paced / flow - 1.0), 100.0 * (in_step / flow - 1.0), flow * 1e3);
      EXPECT_NEAR(paced / flow, 1.0, 0.05) << engine;
      EXPECT_LT(std::abs(paced - flow), std::abs(in_step - flow)) << engine;
    }
  }
}

// The phase engine runs each all-to-all on only the links that may bind and restarts a running
// one with its remaining bytes when a new one makes more links bind (phase_transfers.hpp). On
// pipelined layers with ragged routing, where two chunks' all-to-alls run at once, every op must
// start and end where running every task on all its links (COMET_PHASE_LINKS=all) puts it, to
// 1e-9 of the layer: a restart that lost or double-counted bytes, or a cancelled task that kept
// its share, moved ops by 15% here. Also on a paced tree, where ops ask stretch x their bytes.
TEST(Engines, PhaseOnItsBindingLinksMatchesPhaseOnEveryLink) {
  const auto engines = engines_under_test();
  if (std::find(engines.begin(), engines.end(), "phase") == engines.end()) GTEST_SKIP() << "no SimGrid: no phase engine";
  std::string fat_tree = LAYER;
  fat_tree.replace(fat_tree.find("routing: {kind: uniform}"), 24, "routing: {kind: zipf, alpha: 0.8}");
  for (const auto& [text, partition] : {std::pair{fat_tree, "fixed:4"}, std::pair{fat_tree, "tapered:4"},
                                        std::pair{SKEWED_TREE, "fixed:4"}}) {
    SCOPED_TRACE(partition);
    const testing::ScenarioPlans layer(text, "layer.yaml");
    const Plan plan = layer.plan("contiguous", partition, "direct").plan;
    const Timeline binding = make_executor("phase")->run(plan, layer.topology, layer.cost_model);
    ::setenv("COMET_PHASE_LINKS", "all", 1);
    const Timeline every = make_executor("phase")->run(plan, layer.topology, layer.cost_model);
    ::unsetenv("COMET_PHASE_LINKS");
    const double makespan = every.makespan_s();
    for (std::size_t i = 0; i < plan.ops().size(); ++i) {
      ASSERT_NEAR(binding.ops[i].start_s, every.ops[i].start_s, 1e-9 * makespan) << "op " << i;
      ASSERT_NEAR(binding.ops[i].end_s, every.ops[i].end_s, 1e-9 * makespan) << "op " << i;
    }
  }
  ::setenv("COMET_PHASE_LINKS", "some", 1);
  const testing::ScenarioPlans layer(fat_tree, "layer.yaml");
  EXPECT_THROW(make_executor("phase")->run(layer.plan("contiguous", "fixed:2", "direct").plan, layer.topology,
                                           layer.cost_model),
               InputError);
  ::unsetenv("COMET_PHASE_LINKS");
}

// `dynamic` prices its candidates with the analytical engine; on a paced network they reuse the
// whole exchange's pacing profiles (plan_builder.cpp) instead of simulating their own, so its
// prediction may differ from the layer the engine reports for the chosen Plan, by no more than
// sharing profiles between chunks of one shape moves it (0.5% here).
TEST(Engines, DynamicsPredictionOnAPacedNetworkIsTheAnalyticalLayerTime) {
  const testing::ScenarioPlans layer(SKEWED_TREE, "skewed-tree.yaml");
  ASSERT_TRUE(pacing_applies(layer.topology));
  const BuiltPlan built = layer.plan("contiguous", "dynamic", "direct", 1, 1, true);
  ASSERT_EQ(built.chunks.size(), 1u);
  const double predicted = built.chunks[0].predicted_makespan_s;
  const double simulated = AnalyticalEngine().run(built.plan, layer.topology, layer.cost_model).makespan_s();
  EXPECT_NEAR(predicted / simulated, 1.0, 0.005) << built.chunks[0].description;
  EXPECT_FALSE(built.analytical_run.has_value()) << "its pricing's runs read shared profiles: not the Plan's run";
}

TEST(Engines, EveryOpIsScheduledOnceAfterItsDependencies) {
  const Layer layer;
  // Memory kernels slowed beside compute work too: their ends move as computations start.
  CostModel slowed = layer.cost_model;
  slowed.memory_kernel_rate_beside_compute = 0.3;
  for (const auto& [partition, model] : {std::pair<const char*, const CostModel*>{"fine", &layer.cost_model},
                                         {"fine", &slowed}, {"fixed:4", &slowed}})
  for (const std::string& engine : engines_under_test()) {
    const Plan plan = layer.plan(partition, "hierarchical");
    const Timeline timeline = make_executor(engine)->run(plan, layer.topology, *model);
    ASSERT_EQ(timeline.ops.size(), plan.ops().size());
    for (const Op& op : plan.ops()) {
      EXPECT_LE(timeline.ops[op.id].start_s, timeline.ops[op.id].end_s) << engine;
      if (op.kind == OpKind::PERMUTE || op.kind == OpKind::UNPERMUTE) {  // never shorter than alone
        EXPECT_GE(timeline.ops[op.id].end_s - timeline.ops[op.id].start_s, compute_time_s(plan, op, *model) * (1 - 1e-9)) << engine;
      }
      // A computation waits for its own GPU's part of an all-to-all; the rest for whole ops.
      for (std::int32_t dep : plan.deps(op.id))
        ASSERT_GE(timeline.ops[op.id].start_s, timeline.end_on(dep, op.gpu) - 1e-9) << engine << " op " << op.id;
      if (op.kind != OpKind::ALL_TO_ALL || timeline.gpu_part_ends.empty()) continue;
      // Where an engine ends parts per GPU, it ends one per GPU of the op, the last at the op's end.
      const std::vector<GpuPartEnd>& parts = timeline.gpu_part_ends[op.id];
      ASSERT_FALSE(parts.empty()) << engine << " op " << op.id;
      double last = 0.0;
      for (const GpuPartEnd& part : parts) {
        EXPECT_GE(part.end_s, timeline.ops[op.id].start_s) << engine;
        last = std::max(last, part.end_s);
      }
      EXPECT_DOUBLE_EQ(last, timeline.ops[op.id].end_s) << engine << " op " << op.id;
    }
  }
}

}  // namespace
}  // namespace comet

namespace comet {
namespace {

// The built-in default scenario (1024 GPUs, zipf routing), two layers: the critical path's three
// figures add up to the makespan, per layer direction too, and its ops follow one another.
TEST(CriticalPath, FiguresAddUpToTheMakespanOnTheDefaultScenario) {
  const Scenario scenario = default_scenario();
  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const CostModel model = CostModel::defaults_for(scenario.topology.node.gpu_model);
  const BuiltPlan built = build_plan({&scenario, &topology, &costs, &model, parse_policy(PolicyFamily::PLACEMENT, "contiguous"),
                                      parse_policy(PolicyFamily::PARTITION, "fixed:4"), parse_policy(PolicyFamily::A2A, "direct"), 2, 1});
  const Timeline t = make_executor("analytical")->run(built.plan, topology, model);
  const Metrics m = compute_metrics(built.plan, t, topology, costs);
  const CriticalPath& path = m.critical_path;
  ASSERT_FALSE(path.steps.empty());
  EXPECT_NEAR(path.compute_s + path.all_to_all_s + path.imbalance_s, m.makespan_s, 1e-9 * m.makespan_s);
  double rows = 0.0;
  for (const PhaseRow& row : phase_rows(t, m, scenario.expert_parallel)) {
    EXPECT_NEAR(row.path_compute_s + row.path_comm_s + row.imbalance_s, row.span_s, 1e-12);
    rows += row.span_s;
  }
  EXPECT_NEAR(rows, m.makespan_s, 1e-9 * m.makespan_s);
  EXPECT_EQ(phase_rows(t, m, scenario.expert_parallel).size(), 4u);  // two layers, forward and backward
  for (std::size_t i = 1; i < path.steps.size(); ++i)
    EXPECT_LE(t.ops[path.steps[i - 1].op].end_s, t.ops[path.steps[i].op].end_s);
  EXPECT_EQ(t.ops[path.steps.back().op].end_s - t.ops[path.steps.front().op].start_s, m.makespan_s);
  // Zipf routing at 1024 GPUs: some GPU waits for a more loaded one.
  EXPECT_GT(path.imbalance_s, 0.0);
}

// The critical path follows the part of an all-to-all its next op waited for: after the
// two-pair all-to-all (1 GB 0 -> 1, 0.1 GB 2 -> 3), a long computation on GPU 3 ends the run; the
// path's all-to-all time is GPU 3's part (4 us + 1 ms), not the op's 10 ms.
TEST(CriticalPath, CountsThePartOfAnAllToAllTheNextOpWaitedFor) {
  const Topology t = testing::topology_from_yaml(FOUR_GPUS);
  const CostModel model = ideal_links();
  TransferPlan p(4);
  const std::int32_t a2a = p.all_to_all({{0, 1, 1e9}, {2, 3, 1e8}});
  Op work;
  work.kind = OpKind::NON_MOE;
  work.gpu = 3;
  work.flops = 2e13;  // about 20 ms: it ends the run
  const std::int32_t last = p.plan.add(work, std::vector<std::int32_t>{a2a});
  const Timeline timeline = make_executor("analytical")->run(p.plan, t, model);
  const CriticalPath path = critical_path(p.plan, timeline);
  ASSERT_EQ(path.steps.size(), 2u);
  EXPECT_EQ(path.steps[0].op, a2a);
  EXPECT_EQ(path.steps[1].op, last);
  EXPECT_EQ(path.gpu, 3);
  EXPECT_NEAR(path.all_to_all_s, 4e-6 + 1e8 / 100e9, 1e-9);
  EXPECT_NEAR(path.all_to_all_s + path.compute_s, timeline.makespan_s(), 1e-12);
}

// Per-GPU part ends survive the Timeline's JSON; malformed ones are input errors.
TEST(TimelineJson, GpuPartEndsRoundTripAndBadOnesAreRejected) {
  const Topology t = testing::topology_from_yaml(FOUR_GPUS);
  TransferPlan p(4);
  p.all_to_all({{0, 1, 1e9}, {2, 3, 1e8}});
  const Timeline timeline = make_executor("analytical")->run(p.plan, t, ideal_links());
  nlohmann::json json = timeline_to_json(timeline);
  const Timeline back = timeline_from_json(json, "t.json");
  for (int gpu = 0; gpu < 4; ++gpu) EXPECT_DOUBLE_EQ(back.end_on(0, gpu), timeline.end_on(0, gpu)) << gpu;
  EXPECT_LT(back.end_on(0, 3), back.ops[0].end_s);
  for (const nlohmann::json& bad : {nlohmann::json::array({nlohmann::json::array({7, 0.001})}),      // no such GPU
                                     nlohmann::json::array({nlohmann::json::array({0, 99.0})}),      // after the op
                                     nlohmann::json::array({nlohmann::json::array({1, 0.001}),
                                                            nlohmann::json::array({0, 0.001})})}) {  // unsorted
    nlohmann::json broken = json;
    broken["ops"][0]["gpu_end_s"] = bad;
    EXPECT_THROW(timeline_from_json(broken, "t.json"), InputError) << bad.dump();
  }
  // No silent defaults: every field that names something must name a thing that exists.
  const std::vector<std::pair<const char*, nlohmann::json>> wrong_fields{
      {"direction", "sideways"}, {"phase", "dispatchh"}, {"gpu", 4},        {"gpu", -2},
      {"op", 5},                 {"kind", "gemm"},       {"end_s", -1.0},  {"flops", -5.0},
      {"gpu", 2.5},              {"gpu", 2e25},          {"chunk", "0"}};
  for (const auto& [field, value] : wrong_fields) {
    nlohmann::json broken = json;
    broken["ops"][0][field] = value;
    try {
      timeline_from_json(broken, "t.json");
      ADD_FAILURE() << field << " = " << value.dump() << " was accepted";
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find("t.json"), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    }
  }
}

}  // namespace
}  // namespace comet
