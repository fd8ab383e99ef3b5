// An exact reference for the flow engine (issue 14: "exact references, and which engine is
// right"): an event-driven max-min fair simulation of every GPU pair of an all-to-all, written
// here independently of the engines (its own progressive filling over the topology's routes),
// against the flow engine run without coalescing, on small ragged all-to-alls.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>

#include "a2a_footprint.hpp"
#include "executor.hpp"
#include "flow_coalescing.hpp"
#include "input_error.hpp"
#include "scenario_plans.hpp"
#include "test_support.hpp"

namespace comet {
namespace {

struct PairFlow {
  int src = 0, dst = 0;
  std::vector<int> links;
  double bytes_left = 0.0, starts_s = 0.0, rate = 0.0;
  bool done = false;
};

// The reference models bandwidth and latency only: no per-message start-up costs.
CostModel reference_model() {
  CostModel model = CostModel::defaults_for("h100-sxm");
  model.a2a_per_message_s = 0.0;
  return model;
}

struct ExactEnds {
  double op_s = 0.0;               // when the last flow ends
  std::vector<double> part_s;      // per GPU: when its last flow (sent or received) ends; 0 if none
};

// Every flow waits its route's latency, then moves its bytes; active flows share each link's
// effective bandwidth max-min fair.
ExactEnds exact_max_min(const Topology& topology, const CostModel& model, const std::vector<Transfer>& transfers) {
  std::vector<PairFlow> flows;
  ExactEnds ends;
  ends.part_s.assign(topology.num_gpus(), 0.0);
  for (const Transfer& t : transfers) {
    if (t.src == t.dst || t.bytes <= 0.0) continue;
    PairFlow f;
    f.src = t.src;
    f.dst = t.dst;
    f.links = topology.route(t.src, t.dst);
    for (int id : f.links) f.starts_s += topology.link(id).latency_s;
    f.bytes_left = t.bytes;
    flows.push_back(std::move(f));
  }
  double now = 0.0;
  for (;;) {
    // Progressive filling over the flows past their latency.
    std::vector<PairFlow*> rising;
    std::vector<double> residual(topology.num_directed_links());
    for (int id = 0; id < topology.num_directed_links(); ++id) residual[id] = model.effective_Bps(topology.link(id));
    for (PairFlow& f : flows) {
      f.rate = 0.0;
      if (!f.done && f.starts_s <= now) rising.push_back(&f);
    }
    while (!rising.empty()) {
      std::vector<int> count(topology.num_directed_links(), 0);
      for (const PairFlow* f : rising)
        for (int id : f->links) ++count[id];
      double step = std::numeric_limits<double>::infinity();
      for (int id = 0; id < topology.num_directed_links(); ++id)
        if (count[id] > 0) step = std::min(step, residual[id] / count[id]);
      for (PairFlow* f : rising) f->rate += step;
      for (int id = 0; id < topology.num_directed_links(); ++id) residual[id] -= step * count[id];
      std::erase_if(rising, [&](const PairFlow* f) {
        return std::any_of(f->links.begin(), f->links.end(), [&](int id) {
          return residual[id] <= 1e-9 * model.effective_Bps(topology.link(id));
        });
      });
    }
    // The next event: a flow ends or one's latency is over.
    double next = std::numeric_limits<double>::infinity();
    for (const PairFlow& f : flows) {
      if (f.done) continue;
      next = std::min(next, f.starts_s > now ? f.starts_s : now + f.bytes_left / f.rate);
    }
    if (!std::isfinite(next)) return ends;
    for (PairFlow& f : flows) {
      if (f.done || f.starts_s > now) continue;
      f.bytes_left -= f.rate * (next - now);
      if (f.bytes_left <= 1e-6 * f.rate * (next - now) + 1e-3) {
        f.done = true;
        ends.op_s = next;
        for (int gpu : {f.src, f.dst}) ends.part_s[gpu] = std::max(ends.part_s[gpu], next);
      }
    }
    now = next;
  }
}

// Ragged traffic: every pair gets 0 to 2 x `mean` bytes, a quarter of the pairs none.
std::vector<Transfer> ragged_transfers(int gpus, double mean, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> share(0.0, 2.0);
  std::vector<Transfer> transfers;
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d)
      if (s != d && rng() % 4 != 0) transfers.push_back({s, d, std::round(mean * share(rng))});
  return transfers;
}

struct Case {
  std::string name, yaml;
  int gpus;
};

std::vector<Case> reference_cases() {
  return {
      {"fat-tree k4, 16 GPUs", "name: t\nkind: fat-tree\n" + testing::node_yaml(4) + "fat_tree: {k: 4, tiers: 3}\n", 16},
      {"tree 4:1, 32 GPUs", "name: t\nkind: tree\n" + testing::node_yaml(8) + "tree: {fan_out: [2, 2], oversubscription: [4]}\n", 32},
      {"fat-tree, 64 GPUs", "name: t\nkind: fat-tree\n" + testing::node_yaml(8) + "fat_tree: {down: [16, 4], up: [1, 16]}\n", 64},
  };
}

// One all-to-all op of these transfers, alone.
Plan single_all_to_all(int gpus, const std::vector<Transfer>& transfers) {
  Plan plan(PlanHeader{gpus, gpus, 1, 1, 1, 1, "test", "test", "test"});
  Op op;
  op.kind = OpKind::ALL_TO_ALL;
  op.matrix = plan.add_matrix({transfers});
  plan.add(op, {});
  return plan;
}

// Each GPU's part of the op in `timeline` against the exact one, as a share of the exact op's
// duration: the largest difference.
double worst_part_error(const Timeline& timeline, const ExactEnds& exact) {
  double worst = 0.0;
  for (int gpu = 0; gpu < static_cast<int>(exact.part_s.size()); ++gpu)
    if (exact.part_s[gpu] > 0.0) {
      const double e = std::abs(timeline.end_on(0, gpu) - exact.part_s[gpu]) / exact.op_s;
      worst = std::max(worst, e);
    }
  return worst;
}

TEST(FlowReference, FlowEngineMatchesExactPerPairMaxMinOnRaggedAllToAlls) {
  const auto engines = available_engines();
  if (std::find(engines.begin(), engines.end(), "flow") == engines.end()) GTEST_SKIP() << "no SimGrid: no flow engine";
  ::setenv("COMET_FLOW_PAIR_LIMIT", "100000000", 1);  // one SimGrid flow per pair: no coalescing
  const CostModel model = reference_model();
  for (const Case& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    const Topology topology = testing::topology_from_yaml(c.yaml);
    ASSERT_EQ(topology.num_gpus(), c.gpus);
    for (unsigned seed : {1u, 2u}) {
      const std::vector<Transfer> transfers = ragged_transfers(c.gpus, 20e6, seed);
      const Timeline flow = make_executor("flow")->run(single_all_to_all(c.gpus, transfers), topology, model);
      const ExactEnds exact = exact_max_min(topology, model, transfers);
      EXPECT_NEAR(flow.makespan_s() / exact.op_s, 1.0, 0.005) << "seed " << seed << ": flow " << flow.makespan_s()
                                                              << " s, exact " << exact.op_s << " s";
      // Every GPU's part too: a GPU's part ends with its last flow.
      EXPECT_LT(worst_part_error(flow, exact), 0.005) << "seed " << seed;
      std::printf("%s seed %u: flow op %+.4f%%, worst GPU part %.4f%% of the op\n", c.name.c_str(), seed,
                  100.0 * (flow.makespan_s() / exact.op_s - 1.0), 100.0 * worst_part_error(flow, exact));
    }
  }
  ::unsetenv("COMET_FLOW_PAIR_LIMIT");
}

// The flow engine's two networks, each completion its own event (COMET_FLOW_WINDOW=0 for the
// fluid one; SimGrid's CM02 merges completions within 1 us): both follow the exact reference,
// op and every GPU's part, within 0.01%.
TEST(FlowReference, FluidAndSimgridNetworksMatchExactPerPairMaxMin) {
  const auto engines = available_engines();
  if (std::find(engines.begin(), engines.end(), "flow") == engines.end()) GTEST_SKIP() << "no SimGrid: no flow engine";
  ::setenv("COMET_FLOW_PAIR_LIMIT", "100000000", 1);
  ::setenv("COMET_FLOW_WINDOW", "0", 1);
  const CostModel model = reference_model();
  for (const char* network : {"fluid", "simgrid"}) {
    ::setenv("COMET_FLOW_NETWORK", network, 1);
    for (const Case& c : reference_cases()) {
      SCOPED_TRACE(std::string(network) + " " + c.name);
      const Topology topology = testing::topology_from_yaml(c.yaml);
      const std::vector<Transfer> transfers = ragged_transfers(c.gpus, 20e6, 1);
      const Timeline flow = make_executor("flow")->run(single_all_to_all(c.gpus, transfers), topology, model);
      const ExactEnds exact = exact_max_min(topology, model, transfers);
      EXPECT_NEAR(flow.makespan_s() / exact.op_s, 1.0, 1e-4);
      EXPECT_LT(worst_part_error(flow, exact), 1e-4);
    }
  }
  ::unsetenv("COMET_FLOW_NETWORK");
  ::unsetenv("COMET_FLOW_WINDOW");
  ::unsetenv("COMET_FLOW_PAIR_LIMIT");
}

// The analytical engine's per-GPU parts come from a processor-sharing profile of the op alone
// (A2aFootprint::parts), not from max-min per pair: bounded against the exact reference, the
// op's end within the issue's 5% bar. On the oversubscribed tree the op is paced, its parts from
// the op alone under per-flow max-min: within 1%.
TEST(FlowReference, AnalyticalPartsFollowExactPerPairMaxMin) {
  const CostModel model = reference_model();
  for (const Case& c : reference_cases()) {
    SCOPED_TRACE(c.name);
    const Topology topology = testing::topology_from_yaml(c.yaml);
    for (unsigned seed : {1u, 2u}) {
      const std::vector<Transfer> transfers = ragged_transfers(c.gpus, 20e6, seed);
      const Timeline analytical = make_executor("analytical")->run(single_all_to_all(c.gpus, transfers), topology, model);
      const ExactEnds exact = exact_max_min(topology, model, transfers);
      EXPECT_NEAR(analytical.makespan_s() / exact.op_s, 1.0, 0.05) << "seed " << seed;
      EXPECT_LT(worst_part_error(analytical, exact), pacing_applies(topology) ? 0.01 : 0.10) << "seed " << seed;
      std::printf("%s seed %u: analytical op %+.2f%%, worst GPU part %.2f%% of the op\n", c.name.c_str(), seed,
                  100.0 * (analytical.makespan_s() / exact.op_s - 1.0), 100.0 * worst_part_error(analytical, exact));
    }
  }
}

// Skewed traffic, as routing to hot experts makes it: every pair carries 20 MB / (rank + 1)^0.3
// of its destination (a dispatch) or of its source (a combine), on a 4:1 tree of 64 GPUs.
std::vector<Transfer> skewed_transfers(int gpus, bool by_source) {
  std::vector<Transfer> transfers;
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d)
      if (s != d) transfers.push_back({s, d, std::round(20e6 / std::pow((by_source ? s : d) + 1, 0.3))});
  return transfers;
}

const std::string TREE_64 = "name: t\nkind: tree\n" + testing::node_yaml(8) + "tree: {fan_out: [2, 4], oversubscription: [4]}\n";

// Coalesced flows (forced at 64 GPUs) against the exact per-pair reference on skewed traffic:
// pooling the side that is even keeps the hot GPUs' NICs exact in both directions.
TEST(FlowReference, CoalescedFlowsFollowExactPerPairMaxMinOnSkewedTraffic) {
  const auto engines = available_engines();
  if (std::find(engines.begin(), engines.end(), "flow") == engines.end()) GTEST_SKIP() << "no SimGrid: no flow engine";
  ::setenv("COMET_FLOW_PAIR_LIMIT", "0", 1);  // coalesce at any size
  const CostModel model = reference_model();
  const Topology topology = testing::topology_from_yaml(TREE_64);
  for (bool by_source : {false, true}) {
    const std::vector<Transfer> transfers = skewed_transfers(64, by_source);
    const Timeline flow = make_executor("flow")->run(single_all_to_all(64, transfers), topology, model);
    const ExactEnds exact = exact_max_min(topology, model, transfers);
    std::printf("%s: coalesced flow %+.3f%% of exact %.3f ms\n", by_source ? "combine-like" : "dispatch-like",
                100.0 * (flow.makespan_s() / exact.op_s - 1.0), exact.op_s * 1e3);
    EXPECT_NEAR(flow.makespan_s() / exact.op_s, 1.0, 0.01) << (by_source ? "combine-like" : "dispatch-like");
  }
  ::unsetenv("COMET_FLOW_PAIR_LIMIT");
}

// Where ECMP chooses between uplinks of an oversubscribed network, a coalesced flow keeps one
// path, and max-min gives it one share of each link where per pair its bytes spread over many.
// Grouping single nodes there (FlowCoalescer::group_nodes_for) keeps an MoE layer (Mixtral-8x7B,
// zipf 0.3, 64 GPUs on a 2:1 fat-tree) within 1% of per pair (+0.08%; groups of 4 nodes read +3.2%).
// What it does not fix (docs/engines.md): on synthetic traffic skewed towards one node, coalesced
// flows on such networks read +30% (fat-tree) to +60% (rail) of per pair, whatever the group size.
TEST(FlowReference, CoalescedFlowsFollowPerPairOnAnMoeLayerOverAnOversubscribedFatTree) {
  const auto engines = available_engines();
  if (std::find(engines.begin(), engines.end(), "flow") == engines.end()) GTEST_SKIP() << "no SimGrid: no flow engine";
  const testing::ScenarioPlans s(R"(name: moe-fat-tree-2to1
topology:
  name: fat-tree-64
  kind: fat-tree
  node: {gpus: 8, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 8, nic_bandwidth: 400Gbps, pcie_bandwidth: 64GB/s}
  fat_tree: {down: [32, 2], up: [1, 32], oversubscription: [2]}
model: {preset: mixtral-8x7b, experts: 64}
parallelism: {expert_parallel: 64}
workload: {tokens_per_gpu: 4096, steps: 1, seed: 1, routing: {kind: zipf, alpha: 0.3}}
)",
                                 "moe-fat-tree-2to1.yaml");
  ASSERT_GT(s.topology.oversubscription(), 1.5);
  ASSERT_FALSE(s.topology.single_path());
  EXPECT_EQ(FlowCoalescer::group_nodes_for(s.topology), 1);
  const BuiltPlan built = s.plan("contiguous", "none");
  const Timeline per_pair = make_executor("flow")->run(built.plan, s.topology, s.cost_model);  // 4032 transfers: per pair
  ::setenv("COMET_FLOW_PAIR_LIMIT", "0", 1);
  const Timeline coalesced = make_executor("flow")->run(built.plan, s.topology, s.cost_model);
  ::unsetenv("COMET_FLOW_PAIR_LIMIT");
  std::printf("MoE layer, 2:1 fat-tree: coalesced flow %+.3f%% of per pair %.3f ms\n",
              100.0 * (coalesced.makespan_s() / per_pair.makespan_s() - 1.0), per_pair.makespan_s() * 1e3);
  EXPECT_NEAR(coalesced.makespan_s() / per_pair.makespan_s(), 1.0, 0.01);
}

// All transfers of an op in step (phase, analytical) take max over links of bytes / bandwidth: a
// lower bound that per-pair max-min reaches only when its bottleneck link stays saturated. On a
// 4:1 tree with skewed destinations it does not (docs/engines.md: 17% at 128 GPUs, 45% at 256).
// Paced (a2a_footprint.hpp: the op's most loaded links asked stretch x its bytes, the stretch from
// the op alone under per-flow max-min), both engines follow the exact reference within 0.5%, the
// analytical engine every GPU's part within 1% of the op; with pacing off they read at most the
// exact figure (the bound), more than 2% below it here, and the gap is printed. Pacing runs this
// op per pair by default; coalesced (COMET_FLOW_PAIR_LIMIT=0) it must agree too.
TEST(FlowReference, PacedInStepEnginesFollowExactPerPairMaxMinOnSkewedTraffic) {
  const CostModel model = reference_model();
  const Topology topology = testing::topology_from_yaml(TREE_64);
  ASSERT_TRUE(pacing_applies(topology));
  for (bool by_source : {false, true}) {
    const char* what = by_source ? "combine-like" : "dispatch-like";
    const std::vector<Transfer> transfers = skewed_transfers(64, by_source);
    const ExactEnds exact = exact_max_min(topology, model, transfers);
    const Plan plan = single_all_to_all(64, transfers);
    for (const std::string& engine : available_engines()) {
      if (engine != "analytical" && engine != "phase") continue;
      SCOPED_TRACE(engine + " " + what);
      for (const char* pair_limit : {"", "0"}) {
        if (*pair_limit) ::setenv("COMET_FLOW_PAIR_LIMIT", pair_limit, 1);
        const Timeline paced = make_executor(engine)->run(plan, topology, model);
        ::unsetenv("COMET_FLOW_PAIR_LIMIT");
        EXPECT_NEAR(paced.makespan_s() / exact.op_s, 1.0, 0.005) << (*pair_limit ? "pacing coalesced" : "pacing per pair");
        if (engine == "analytical") {
          EXPECT_LT(worst_part_error(paced, exact), 0.01);
        }
      }
      ::setenv("COMET_A2A_PACING", "none", 1);
      const double in_step = make_executor(engine)->run(plan, topology, model).makespan_s();
      ::unsetenv("COMET_A2A_PACING");
      std::printf("%s %s: in step %+.2f%% of exact %.3f ms\n", engine.c_str(), what, 100.0 * (in_step / exact.op_s - 1.0),
                  exact.op_s * 1e3);
      EXPECT_LE(in_step, exact.op_s * (1.0 + 1e-6));
      EXPECT_LT(in_step, exact.op_s * 0.98) << "the case no longer shows what pacing is for";
    }
  }
}

// Pacing is for oversubscribed single-path networks (a non-blocking fat-tree's in-step bound is
// within 0.2% of per-pair max-min; where ECMP chooses, pacing's coalesced flows are no closer than in step:
// docs/engines.md); where it is off on an oversubscribed network, phase and analytical carry a
// caveat that says what they miss and why; flow never does.
TEST(FlowReference, InStepEnginesArePacedOrCarryACaveatOnOversubscribedNetworks) {
  const Topology tree = testing::topology_from_yaml(TREE_64);
  const Topology fat_tree = testing::topology_from_yaml(reference_cases()[2].yaml);
  const Topology thin_fat_tree = testing::topology_from_yaml(
      "name: t\nkind: fat-tree\n" + testing::node_yaml(8) + "fat_tree: {down: [16, 4], up: [1, 16], oversubscription: [2]}\n");
  EXPECT_NEAR(tree.oversubscription(), 4.0, 1e-9);
  EXPECT_NEAR(fat_tree.oversubscription(), 1.0, 1e-9);
  EXPECT_NEAR(thin_fat_tree.oversubscription(), 2.0, 1e-9);
  EXPECT_TRUE(tree.single_path());
  EXPECT_FALSE(fat_tree.single_path());
  EXPECT_FALSE(thin_fat_tree.single_path());
  EXPECT_TRUE(pacing_applies(tree));
  EXPECT_FALSE(pacing_applies(fat_tree));
  EXPECT_FALSE(pacing_applies(thin_fat_tree));
  for (const std::string engine : {"phase", "analytical"}) {
    EXPECT_EQ(engine_caveat(engine, tree), "") << engine;
    EXPECT_EQ(engine_caveat(engine, fat_tree), "") << engine;
    EXPECT_NE(engine_caveat(engine, thin_fat_tree).find("several paths"), std::string::npos) << engine;
  }
  ::setenv("COMET_A2A_PACING", "none", 1);
  EXPECT_FALSE(pacing_applies(tree));
  for (const std::string engine : {"phase", "analytical"})
    EXPECT_NE(engine_caveat(engine, tree).find("lower bound"), std::string::npos) << engine;
  EXPECT_EQ(engine_caveat("flow", tree), "");
  ::setenv("COMET_A2A_PACING", "sometimes", 1);
  EXPECT_THROW(pacing_applies(tree), InputError);
  ::unsetenv("COMET_A2A_PACING");
}

// What pacing changes in a footprint: the stretch (>= 1) applies to the most loaded links only,
// the op then takes stretch x the in-step bound alone, and the parts end by the op's end.
TEST(FlowReference, PacingStretchesOnlyAnOpsMostLoadedLinks) {
  const CostModel model = reference_model();
  const Topology topology = testing::topology_from_yaml(TREE_64);
  const Plan plan = single_all_to_all(64, skewed_transfers(64, false));
  A2aFootprints footprints(plan, topology, &model);
  const Op* a2a = nullptr;
  for (const Op& op : plan.ops())
    if (op.kind == OpKind::ALL_TO_ALL) a2a = &op;
  ASSERT_NE(a2a, nullptr);
  const A2aFootprint& f = footprints.of(*a2a);
  EXPECT_GT(f.stretch, 1.02);
  double bound = 0.0;
  for (const LinkLoad& load : f.loads) bound = std::max(bound, load.bytes / model.effective_Bps(topology.link(load.link)));
  int stretched = 0;
  for (const LinkLoad& load : f.loads) {
    const bool most_loaded = load.bytes / model.effective_Bps(topology.link(load.link)) >= bound * (1.0 - 1e-9);
    EXPECT_DOUBLE_EQ(load.demand_bytes, most_loaded ? load.bytes * f.stretch : load.bytes) << "link " << load.link;
    stretched += most_loaded ? 1 : 0;
  }
  EXPECT_GE(stretched, 1);
  EXPECT_NEAR(alone_s(f, topology, model), f.stretch * bound, 1e-12 * bound);
  ASSERT_EQ(f.parts.size(), f.gpus.size());
  for (const PartThreshold& part : f.parts) {
    EXPECT_GT(part.fraction, 0.0);
    EXPECT_LE(part.fraction, 1.0);
  }
  EXPECT_DOUBLE_EQ(f.parts.back().fraction, 1.0);
  // Without a cost model (the flow engine's footprints) nothing is paced.
  A2aFootprints plain(plan, topology);
  EXPECT_EQ(plain.of(*a2a).stretch, 1.0);
}

// Chunks of one exchange share a pacing profile when their traffic has the same shape (max-min
// times scale with bytes: half the bytes, the same stretch and parts, exactly), and get their own
// when it differs (a chunk that stays inside one node must not inherit a skewed chunk's stretch).
TEST(FlowReference, ChunksShareAPacingProfileOnlyWhenTheirTrafficHasTheSameShape) {
  const CostModel model = reference_model();
  const Topology topology = testing::topology_from_yaml(TREE_64);
  std::vector<Transfer> skewed = skewed_transfers(64, false), half = skewed, local;
  for (Transfer& t : half) t.bytes *= 0.5;
  for (int s = 0; s < 8; ++s)
    for (int d = 0; d < 8; ++d)
      if (s != d) local.push_back({s, d, 4e6});
  Plan plan(PlanHeader{64, 64, 1, 1, 1, 1, "test", "test", "test"});
  std::vector<Op> ops;
  for (const std::vector<Transfer>* transfers : {&skewed, &half, &local}) {
    Op op;
    op.kind = OpKind::ALL_TO_ALL;
    op.tags.chunk = static_cast<std::int32_t>(ops.size());
    op.matrix = plan.add_matrix({*transfers});
    op.id = plan.add(op, {});
    ops.push_back(op);
  }
  A2aFootprints footprints(plan, topology, &model);
  const A2aFootprint& first = footprints.of(ops[0]);
  const A2aFootprint& same_shape = footprints.of(ops[1]);
  const A2aFootprint& inside_a_node = footprints.of(ops[2]);
  EXPECT_GT(first.stretch, 1.02);
  EXPECT_EQ(same_shape.stretch, first.stretch);
  ASSERT_EQ(same_shape.parts.size(), first.parts.size());
  for (std::size_t i = 0; i < first.parts.size(); ++i) {
    EXPECT_EQ(same_shape.parts[i].gpu, first.parts[i].gpu);
    EXPECT_EQ(same_shape.parts[i].fraction, first.parts[i].fraction);
  }
  EXPECT_NEAR(alone_s(same_shape, topology, model), 0.5 * alone_s(first, topology, model), 1e-12);
  EXPECT_LT(inside_a_node.stretch, 1.001) << "a chunk inside one node shared the skewed chunk's profile";
}

// The chunks of an exchange that move bytes between the same pairs have their footprints computed
// in one walk of their routes (A2aFootprints::compute, up to MAX_BATCH at a time): each must be
// what it is alone, to the bit, in both directions, and its loads the bytes a plain walk of
// Topology::route puts on each link. Thirteen chunks over the same pairs but the fourth (batches
// of 3, 1, 8 and 1 in each direction, the last forward batch alike the first reversed one); a
// paced tree among the networks (there chunks share pacing profiles, so only what does not depend
// on the other chunks is compared).
TEST(FlowReference, FootprintsOfChunksWalkedTogetherEqualEachAlone) {
  const CostModel model = reference_model();
  for (const Case& c : reference_cases()) {
    const Topology topology = testing::topology_from_yaml(c.yaml);
    const bool paced = pacing_applies(topology);
    Plan plan(PlanHeader{c.gpus, c.gpus, 1, 1, 1, 1, "test", "test", "test"});
    std::vector<Op> ops;
    const std::vector<Transfer> pairs = ragged_transfers(c.gpus, 1e6, 7), other_pairs = ragged_transfers(c.gpus, 1e6, 8);
    for (int chunk = 0; chunk < 13; ++chunk) {
      std::vector<Transfer> transfers = chunk == 3 ? other_pairs : pairs;
      std::mt19937 rng(static_cast<unsigned>(chunk));
      for (Transfer& t : transfers) t.bytes = std::round(t.bytes * (0.5 + static_cast<double>(rng() % 100) / 100.0)) + 1.0;
      const std::int32_t matrix = plan.add_matrix({transfers});
      for (const bool reversed : {false, true}) {
        Op op;
        op.kind = OpKind::ALL_TO_ALL;
        op.matrix = matrix;
        op.reversed = reversed;
        op.tags.chunk = chunk;
        op.id = plan.add(op, {});
        ops.push_back(op);
      }
    }
    A2aFootprints together(plan, topology, &model);
    for (const Op& op : ops) {
      const std::string where = fmt::format("{}, chunk {}, {}", c.name, op.tags.chunk, op.reversed ? "reversed" : "forward");
      const std::vector<Transfer>& transfers = plan.matrices()[op.matrix].transfers;
      Plan single = single_all_to_all(c.gpus, transfers);
      Op alone_op = single.ops().front();
      alone_op.reversed = op.reversed;
      A2aFootprints alone(single, topology, &model);
      const A2aFootprint& a = together.of(op);
      const A2aFootprint& b = alone.of(alone_op);
      std::vector<double> walked(static_cast<std::size_t>(topology.num_directed_links()), 0.0);
      for (const Transfer& t : transfers)
        for (int link : op.reversed ? topology.route(t.dst, t.src) : topology.route(t.src, t.dst)) walked[link] += t.bytes;
      std::size_t nonzero = 0;
      for (double bytes : walked) nonzero += bytes > 0.0 ? 1 : 0;
      ASSERT_EQ(a.loads.size(), nonzero) << where;
      for (const LinkLoad& load : a.loads) EXPECT_EQ(load.bytes, walked[load.link]) << where << ", link " << load.link;
      EXPECT_EQ(a.latency_s, b.latency_s) << where;
      EXPECT_EQ(a.max_messages, b.max_messages) << where;
      EXPECT_EQ(a.gpus, b.gpus) << where;
      if (paced) continue;
      ASSERT_EQ(a.parts.size(), b.parts.size()) << where;
      for (std::size_t i = 0; i < a.parts.size(); ++i) {
        EXPECT_EQ(a.parts[i].gpu, b.parts[i].gpu) << where;
        EXPECT_EQ(a.parts[i].fraction, b.parts[i].fraction) << where << ", GPU " << a.parts[i].gpu;
      }
      for (std::size_t i = 0; i < a.loads.size(); ++i) EXPECT_EQ(a.loads[i].demand_bytes, b.loads[i].demand_bytes) << where;
    }
  }
}

}  // namespace
}  // namespace comet
