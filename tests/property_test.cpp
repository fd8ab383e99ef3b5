// Properties over random valid scenarios (seeded, so a failure names a case that reproduces):
// whatever cluster, size, model, routing and policy triple `comet check` accepts, the Plan builds
// and the fast engine runs it, and then
//  - bytes are conserved: each all-to-all's bytes sent = received, dispatch = combine (and their
//    gradients) per step and layer, the tiers add up to the traffic, and the links carry each
//    transfer's bytes once per hop of its route (routed here again, independently of the engine);
//  - every Plan op is in the Timeline once, and starts after what it depends on ended (for a GPU
//    waiting on an all-to-all: after that GPU's part of it);
//  - the layer time is at least the critical GPU's computation and the busiest link's bytes over
//    its bandwidth;
//  - the same scenario and seed give the same Timeline, byte for byte.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <tuple>

#include "calibration_file.hpp"
#include "executor.hpp"
#include "input_error.hpp"
#include "metrics.hpp"
#include "path_costs.hpp"
#include "plan_builder.hpp"
#include "scenario.hpp"
#include "scenario_writer.hpp"
#include "topology_builders.hpp"

namespace comet {
namespace {

constexpr int CASES_PER_SHARD = 25;
constexpr int SHARDS = 8;  // 200 scenarios a run

template <typename T>
const T& pick(std::mt19937_64& rng, const std::vector<T>& choices) {
  return choices[std::uniform_int_distribution<std::size_t>(0, choices.size() - 1)(rng)];
}

struct RandomCase {
  std::string label;
  std::string text;  ///< the scenario file
  PolicyTriple policies;
};

std::string replace_line_starting(std::string text, const std::string& start, const std::string& line) {
  const std::size_t at = text.find(start);
  if (at == std::string::npos) throw std::logic_error("scenario template lacks " + start);
  const std::size_t end = text.find('\n', at);
  return text.replace(at, end - at, line);
}

std::string random_routing(std::mt19937_64& rng, int gpus, int experts, int expert_parallel) {
  const std::string kind = pick<std::string>(rng, {"uniform", "zipf", "hot-experts", "hot-rank", "affinity", "rotating",
                                                   "burst"});
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const int hot = std::uniform_int_distribution<int>(1, std::max(1, experts / 4))(rng);
  if (kind == "zipf") return fmt::format("{{kind: zipf, alpha: {:.2f}}}", 2.0 * unit(rng));
  if (kind == "hot-experts") return fmt::format("{{kind: hot-experts, hot_experts: {}, hot_share: {:.2f}}}", hot, unit(rng));
  if (kind == "hot-rank")
    return fmt::format("{{kind: hot-rank, hot_rank: {}, factor: {:.2f}}}",
                       std::uniform_int_distribution<int>(0, gpus - 1)(rng), 1.0 + 3.0 * unit(rng));
  if (kind == "affinity")
    return fmt::format("{{kind: affinity, groups: {}, strength: {:.2f}}}",
                       std::uniform_int_distribution<int>(1, std::min(expert_parallel, experts))(rng), unit(rng));
  if (kind == "rotating")
    return fmt::format("{{kind: rotating, hot_experts: {}, hot_share: {:.2f}, period: {}}}", hot, unit(rng),
                       std::uniform_int_distribution<int>(1, 4)(rng));
  if (kind == "burst") return fmt::format("{{kind: burst, probability: {:.2f}, factor: {:.2f}}}", unit(rng), 1.0 + unit(rng));
  return "{kind: uniform}";
}

RandomCase random_case(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  InitRequest request;
  request.cluster_type = pick<std::string>(rng, {"tree", "fat-tree", "rail"});
  request.gpus = pick<int>(rng, {8, 16, 32, 64, 128});
  request.model = pick<std::string>(rng, {"mixtral-8x7b", "deepseek-v3", "qwen2-57b-a14b", "qwen2-moe", "phi-3.5-moe"});
  request.experts = pick<int>(rng, {8, 16, 32, 64});
  request.tokens_per_gpu = pick<long>(rng, {32, 128, 512, 1024});
  RandomCase c;
  c.text = write_init_scenario(request);
  const Scenario plain = parse_scenario(load_yaml_text(c.text, "init"), ".");
  c.text = replace_line_starting(c.text, "    kind: uniform", "");
  c.text = replace_line_starting(c.text, "  routing:",
                                 "  routing: " + random_routing(rng, request.gpus, request.experts, plain.expert_parallel));
  c.text = replace_line_starting(c.text, "  seed:", fmt::format("  seed: {}", seed % 1000));
  c.policies.placement = parse_policy(PolicyFamily::PLACEMENT,
                                      pick<std::string>(rng, {"contiguous", "strided", "topology", "bottleneck", "replicate:2"}));
  c.policies.partition = parse_policy(PolicyFamily::PARTITION,
                                      pick<std::string>(rng, {"none", "fixed:2", "fixed:4", "tapered:3", "dynamic", "fine", "comet:8"}));
  c.policies.a2a = parse_policy(PolicyFamily::A2A, pick<std::string>(rng, {"direct", "hierarchical"}));
  c.text = replace_line_starting(c.text, "  placement:", "  placement: [\"" + c.policies.placement.text() + "\"]");
  c.text = replace_line_starting(c.text, "  partition:", "  partition: [\"" + c.policies.partition.text() + "\"]");
  c.text = replace_line_starting(c.text, "  a2a:", "  a2a: [" + c.policies.a2a.text() + "]");
  c.label = fmt::format("seed {}: {} {} GPUs, {}, {} experts, {} tokens/GPU, {} / {} / {}", seed, request.cluster_type,
                        request.gpus, request.model, request.experts, request.tokens_per_gpu, c.policies.placement.text(),
                        c.policies.partition.text(), c.policies.a2a.text());
  return c;
}

struct Simulated {
  Scenario scenario;
  Topology topology;
  BuiltPlan built;
  Timeline timeline;
  Metrics metrics;
};

Simulated simulate_case(const RandomCase& c) {
  Scenario scenario = parse_scenario(load_yaml_text(c.text, c.label), ".");
  Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const CostModel model = cost_model_for(scenario.topology.node.gpu_model, {});
  BuiltPlan built = build_plan({&scenario, &topology, &costs, &model, c.policies.placement, c.policies.partition,
                                c.policies.a2a, 1, 1});
  Timeline timeline = make_executor("analytical")->run(built.plan, topology, model);
  Metrics metrics = compute_metrics(built.plan, timeline, topology, costs);
  return {std::move(scenario), std::move(topology), std::move(built), std::move(timeline), std::move(metrics)};
}

void expect_bytes_conserved(const Simulated& s, const std::string& label) {
  const Plan& plan = s.built.plan;
  std::map<std::tuple<int, int, A2aPhase>, double> by_phase;  // (step, layer, phase) -> bytes
  double total = 0.0, link_total = 0.0;
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    const TransferMatrix& m = plan.matrices()[op.matrix];
    std::vector<double> sent(s.topology.num_gpus(), 0.0), received(s.topology.num_gpus(), 0.0);
    for (const Transfer& t : m.transfers) {
      ASSERT_GT(t.bytes, 0.0) << label;
      sent[t.src] += t.bytes;
      received[t.dst] += t.bytes;
      link_total += t.bytes * static_cast<double>(s.topology.route(t.src, t.dst).size());
    }
    const double op_sent = std::accumulate(sent.begin(), sent.end(), 0.0);
    EXPECT_NEAR(op_sent, std::accumulate(received.begin(), received.end(), 0.0), 1e-9 * op_sent) << label;
    EXPECT_NEAR(op_sent, m.total_bytes(), 1e-9 * op_sent) << label;
    by_phase[{op.tags.step, op.tags.layer, op.tags.phase}] += op_sent;
    total += op_sent;
  }
  for (const auto& [key, bytes] : by_phase) {
    const auto [step, layer, phase] = key;
    // What dispatch sends, combine brings back; the gradients retrace both.
    for (A2aPhase mirror : {A2aPhase::DISPATCH, A2aPhase::COMBINE, A2aPhase::COMBINE_GRAD, A2aPhase::DISPATCH_GRAD}) {
      const auto other = by_phase.find({step, layer, mirror});
      ASSERT_NE(other, by_phase.end()) << label << ": no " << to_string(mirror);
      EXPECT_NEAR(other->second, bytes, 1e-9 * bytes) << label << ": " << to_string(phase) << " vs " << to_string(mirror);
    }
  }
  double tiers = 0.0;
  for (double b : s.metrics.bytes_by_tier) tiers += b;
  EXPECT_NEAR(tiers, total, 1e-9 * std::max(total, 1.0)) << label;
  const double carried = std::accumulate(s.timeline.link_bytes.begin(), s.timeline.link_bytes.end(), 0.0);
  // Reversed ops route dst -> src: the same hop count either way on these symmetric clusters.
  EXPECT_NEAR(carried, link_total, 1e-9 * std::max(link_total, 1.0)) << label;
}

void expect_every_op_once_after_its_dependencies(const Simulated& s, const std::string& label) {
  const Plan& plan = s.built.plan;
  ASSERT_EQ(s.timeline.ops.size(), plan.ops().size()) << label;
  constexpr double SLACK_S = 1e-12;
  for (const Op& op : plan.ops()) {
    const TimelineOp& t = s.timeline.ops[op.id];
    ASSERT_EQ(t.op, op.id) << label;
    EXPECT_TRUE(std::isfinite(t.start_s) && std::isfinite(t.end_s) && t.start_s <= t.end_s) << label << " op " << op.id;
    for (std::int32_t dep : plan.deps(op.id)) {
      const Op& before = plan.ops()[dep];
      // A computation waiting for an all-to-all waits for its own GPU's part of it.
      const double ready = before.kind == OpKind::ALL_TO_ALL && op.kind != OpKind::ALL_TO_ALL
                               ? s.timeline.end_on(dep, op.gpu)
                               : s.timeline.ops[dep].end_s;
      EXPECT_GE(t.start_s, ready - SLACK_S) << label << ": op " << op.id << " starts before op " << dep << " ends";
    }
    // Streaming (comet:B): not before its producer starts, not ending before it ends (on its GPU).
    for (std::int32_t producer : plan.streaming_deps(op.id)) {
      EXPECT_GE(t.start_s, s.timeline.ops[producer].start_s - SLACK_S) << label << ": op " << op.id << " streams from " << producer;
      EXPECT_GE(t.end_s, s.timeline.end_on(producer, op.gpu) - SLACK_S) << label << ": op " << op.id << " streams from " << producer;
    }
  }
}

void expect_layer_time_bounds(const Simulated& s, const std::string& label) {
  const double layer = s.metrics.layer_time_s;
  EXPECT_GE(layer * (1 + 1e-12), s.metrics.compute_s) << label;
  for (std::size_t link = 0; link < s.timeline.link_bytes.size(); ++link)
    if (s.timeline.link_bytes[link] > 0.0) {
      EXPECT_GE(layer * (1 + 1e-9), s.timeline.link_bytes[link] / s.timeline.link_effective_Bps[link]) << label << " link " << link;
    }
}

class RandomScenarios : public ::testing::TestWithParam<int> {};

TEST_P(RandomScenarios, SimulateAndItsInvariantsHold) {
  for (int i = 0; i < CASES_PER_SHARD; ++i) {
    const std::uint64_t seed = 1000003ULL * static_cast<std::uint64_t>(GetParam()) + static_cast<std::uint64_t>(i);
    const RandomCase c = random_case(seed);
    std::optional<Simulated> simulated;
    try {
      simulated.emplace(simulate_case(c));
    } catch (const InputError& error) {
      ADD_FAILURE() << c.label << ": a scenario check accepts was rejected: " << error.what() << "\n" << c.text;
      continue;
    }
    const Simulated& s = *simulated;
    expect_bytes_conserved(s, c.label);
    expect_every_op_once_after_its_dependencies(s, c.label);
    expect_layer_time_bounds(s, c.label);
    if (i % 5 == 0) {  // same seed, same bytes
      const Simulated again = simulate_case(c);
      EXPECT_EQ(timeline_to_json(again.timeline).dump(), timeline_to_json(s.timeline).dump()) << c.label;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, RandomScenarios, ::testing::Range(0, SHARDS));

}  // namespace
}  // namespace comet
