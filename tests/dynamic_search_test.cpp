// `dynamic`'s search by independent parts (dynamic_search.hpp): the premise (a part priced alone
// takes what it takes in the whole Plan) on real Plans, and the search (the cheapest candidate
// exactly, with fewer whole pricings) on real and on synthetic prices.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>

#include "a2a_footprint.hpp"
#include "analytical_engine.hpp"
#include "dynamic_search.hpp"
#include "partition_policies.hpp"
#include "plan_builder.hpp"
#include "scenario_plans.hpp"
#include "workload.hpp"

namespace comet {
namespace {

// 32 GPUs, four 8-GPU nodes, one leaf each under one spine; two expert-parallel groups of two
// nodes: their traffic crosses the spine on different directed links (two independent parts).
// Zipf routing, so the groups' layers differ.
const std::string TWO_PARTS = "name: two-parts\n" + testing::FAT_TREE_32_TOPOLOGY + R"(model: {preset: deepseek-v3, experts: 32}
parallelism: {expert_parallel: 16}
workload:
  tokens_per_gpu: 2048
  seed: 5
  routing: {kind: zipf, alpha: 0.8}
)";

struct Pricers : testing::ScenarioPlans {
  PlanRequest request;
  PlanRouting routing;
  ExpertPlacement placement;
  DynamicPricing shared;
  PartitionInputs in;

  Pricers(const std::string& placement_name, const std::string& a2a)
      : ScenarioPlans(TWO_PARTS, "two-parts.yaml"),
        request{&scenario, &topology, &costs, &cost_model, parse_policy(PolicyFamily::PLACEMENT, placement_name),
                parse_policy(PolicyFamily::PARTITION, "dynamic"), parse_policy(PolicyFamily::A2A, a2a), 1, 1},
        routing(route_workload(scenario, topology.num_gpus(), 1)),
        placement(make_plan_placement(scenario, topology, costs, request.placement, routing)),
        in{&routing.steps[0], &placement, &topology, &costs, &cost_model, &scenario.model, {}, {}, {}, {}} {
    add_dynamic_pricers(request, placement, routing.steps[0], shared, in);
  }
  ChunkPlan chunks(const std::string& partition, const RoutingMatrix* of = nullptr) const {
    PartitionInputs cut = in;
    if (of) cut.routing = of;
    return partition_tokens(parse_policy(PolicyFamily::PARTITION, partition), cut);
  }
};

class DynamicByParts : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

// The premise: each part's groups, in a Plan of that part alone, end when they end in the whole
// Plan; the layer time is the slowest group's, to the last bit.
TEST_P(DynamicByParts, APartAloneTakesWhatItTakesInTheWholePlan) {
  const Pricers p(GetParam().first, GetParam().second);
  ASSERT_EQ(*std::max_element(p.in.part_of_group.begin(), p.in.part_of_group.end()), 1) << "two parts expected";
  for (const char* partition : {"none", "fixed:4", "tapered:8"}) {
    const ChunkPlan all = p.chunks(partition);
    const std::vector<double> whole = p.in.group_times_s(all, -1);
    EXPECT_EQ(*std::max_element(whole.begin(), whole.end()), p.in.layer_time_s(all)) << partition;
    EXPECT_GT(std::abs(whole[0] - whole[1]), 1e-9 * whole[0]) << partition << ": the groups should differ";
    for (int part = 0; part < 2; ++part) {
      const RoutingMatrix rows = routing_of_part(p.routing.steps[0], 16, p.in.part_of_group, part);
      const std::vector<double> alone = p.in.group_times_s(p.chunks(partition, &rows), part);
      for (std::size_t g = 0; g < whole.size(); ++g)
        if (p.in.part_of_group[g] == part)
          EXPECT_NEAR(alone[g], whole[g], 1e-12 * whole[g]) << partition << " group " << g;
        else
          EXPECT_EQ(alone[g], 0.0) << partition << " group " << g;
    }
  }
}

// The search by parts chooses what pricing every candidate whole chooses, at the same price, with
// fewer whole pricings than candidates.
TEST_P(DynamicByParts, ChoosesWhatPricingEveryCandidateWholeChooses) {
  Pricers p(GetParam().first, GetParam().second);
  const PolicySpec dynamic = parse_policy(PolicyFamily::PARTITION, "dynamic");
  PartitionInputs every = p.in;
  every.rough_layer_time_s = nullptr;
  every.group_times_s = nullptr;
  const ChunkPlan reference = partition_tokens(dynamic, every);
  std::atomic<int> whole_calls = 0, part_calls = 0;
  PartitionInputs counted = p.in;
  counted.group_times_s = [&](const ChunkPlan& chunks, int part) {
    ++(part < 0 ? whole_calls : part_calls);
    return p.in.group_times_s(chunks, part);
  };
  const ChunkPlan chosen = partition_tokens(dynamic, counted);
  EXPECT_EQ(chosen.description, reference.description);
  EXPECT_EQ(chosen.predicted_makespan_s, reference.predicted_makespan_s);
  EXPECT_LT(whole_calls, 10) << "10 candidates: equal at 8 counts, two shapes at the best";
  EXPECT_GE(whole_calls + part_calls, 10);
}

INSTANTIATE_TEST_SUITE_P(Policies, DynamicByParts,
                         ::testing::Values(std::pair{"contiguous", "direct"}, std::pair{"topology", "hierarchical"}));

// Synthetic prices over three parts whose slowest part changes with the chunk count, so bounds
// from one part are loose for some counts: the choice is still the cheapest layer (ties to the
// fewer chunks), its price exact.
TEST(DynamicSearch, ChoosesTheCheapestWhenTheSlowestPartChanges) {
  const ExpertPlacement placement("contiguous", 2, {{0}, {0}, {1}, {1}});
  RoutingMatrix routing(8, 4);
  for (int src = 0; src < 8; ++src)
    for (int e = 0; e < 4; ++e) routing.at(src, e) = 40 + 3 * src + e;
  const std::vector<int> part_of_group{0, 0, 1, 2};
  // Per part, the layer time by chunk count (ms); the layer is the slowest part's.
  const std::map<int, std::vector<double>> by_part = {
      {0, {120, 110, 104, 101, 100, 103, 107, 112}},  // alone best at 6
      {1, {118, 109, 103, 102, 101, 99, 100, 104}},   // alone best at 8
      {2, {125, 100, 100, 100, 100, 100, 100, 100}}};
  const std::vector<int> counts(std::begin(DYNAMIC_CHUNK_COUNTS), std::end(DYNAMIC_CHUNK_COUNTS));
  const auto part_ms = [&](int part, std::size_t k) {
    return by_part.at(part)[std::find(counts.begin(), counts.end(), static_cast<int>(k)) - counts.begin()];
  };
  std::atomic<int> whole_calls = 0;
  PartitionInputs in{&routing, &placement, nullptr, nullptr, nullptr, nullptr, {}, {}, {}, part_of_group};
  in.group_times_s = [&](const ChunkPlan& chunks, int part) {
    if (part < 0) ++whole_calls;
    std::vector<double> times(part_of_group.size(), 0.0);
    for (std::size_t g = 0; g < times.size(); ++g)
      if (part < 0 || part_of_group[g] == part) times[g] = 1e-3 * part_ms(part_of_group[g], chunks.chunks.size());
    return times;
  };
  const ChunkPlan chosen = partition_tokens(parse_policy(PolicyFamily::PARTITION, "dynamic"), in);
  // The slowest part per count: 125, 110, 104, 102, 101, 103, 107, 112 -> 6 chunks at 101 ms.
  EXPECT_EQ(chosen.chunks.size(), 6u);
  EXPECT_DOUBLE_EQ(chosen.predicted_makespan_s, 101e-3);
  EXPECT_NE(chosen.description.find("6 equal chunks"), std::string::npos) << chosen.description;
  EXPECT_LT(whole_calls, 10);
}

// Rows outside the part are zeroed, the part's kept as they are.
TEST(DynamicSearch, RoutingOfAPartKeepsOnlyItsSourceRows) {
  RoutingMatrix routing(6, 3);
  for (int src = 0; src < 6; ++src)
    for (int e = 0; e < 3; ++e) routing.at(src, e) = 1 + src * 3 + e;
  const RoutingMatrix kept = routing_of_part(routing, 2, {1, 0, 1}, 1);
  for (int src = 0; src < 6; ++src)
    for (int e = 0; e < 3; ++e) EXPECT_EQ(kept.at(src, e), src / 2 == 1 ? 0 : routing.at(src, e)) << src << " " << e;
}

}  // namespace
}  // namespace comet

namespace comet {
namespace {

// Where all-to-alls are not paced, `dynamic`'s one-layer, one-step Plan comes with the run its
// pricing made of it, which is what the engine returns for the Plan; with two layers the Plan is
// another, and no run comes with it.
TEST(DynamicSearch, KeepsTheRunOfItsChoiceOnlyWhereItIsThePlansRun) {
  const testing::ScenarioPlans s(TWO_PARTS, "two-parts.yaml");
  ASSERT_FALSE(pacing_applies(s.topology));
  for (const char* a2a : {"direct", "hierarchical"}) {
    const BuiltPlan one = s.plan("contiguous", "dynamic", a2a);
    ASSERT_TRUE(one.analytical_run.has_value()) << a2a;
    const Timeline fresh = AnalyticalEngine().run(one.plan, s.topology, s.cost_model);
    EXPECT_EQ(timeline_to_json(*one.analytical_run).dump(), timeline_to_json(fresh).dump()) << a2a;
    EXPECT_FALSE(s.plan("contiguous", "dynamic", a2a, 2).analytical_run.has_value()) << a2a;
    EXPECT_FALSE(s.plan("contiguous", "fixed:4", a2a).analytical_run.has_value()) << a2a;
  }
}

}  // namespace
}  // namespace comet
