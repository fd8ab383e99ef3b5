// All-to-all algorithms, partition policies and the Plan: conservation, DAG structure,
// determinism.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include <map>
#include <numeric>
#include <random>
#include <set>

#include "a2a_algorithms.hpp"
#include "analytical_engine.hpp"
#include "executor.hpp"
#include "op_costs.hpp"
#include "partition_policies.hpp"
#include "plan_builder.hpp"
#include "scenario_plans.hpp"
#include "token_exchange.hpp"
#include "workload.hpp"

namespace comet {
namespace {

// A 64-GPU rail-optimized cluster (8 nodes x 8 GPUs), Mixtral-like experts, EP 32.
const std::string SCENARIO = R"(name: small
topology:
  name: rail-64
  kind: rail-optimized
  node: {gpus: 8, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 8, nic_bandwidth: 400Gbps, pcie_bandwidth: 64GB/s}
  rail: {nodes: 8, nodes_per_leaf: 4, spines: 4}
model: {preset: qwen2-moe}
parallelism: {expert_parallel: 32}
workload:
  tokens_per_gpu: 512
  steps: 2
  seed: 3
  routing: {kind: zipf, alpha: 0.8}
)";

struct Fixture : testing::ScenarioPlans {
  explicit Fixture(const std::string& text = SCENARIO) : ScenarioPlans(text, "small.yaml") {}
};

double forward_gemm_tokens(const Plan& plan) {
  double tokens = 0;
  for (const Op& op : plan.ops())
    if (op.kind == OpKind::EXPERT_GEMM && op.tags.direction == Direction::FORWARD)
      for (const ExpertWork& w : plan.work(op)) tokens += static_cast<double>(w.tokens);
  return tokens;
}

// Bytes per (sender, receiver) of one phase's all-to-alls, as the data flows (a reversed op's
// matrix is sent from its destinations to its sources).
std::map<std::pair<int, int>, double> traffic(const Plan& plan, A2aPhase phase) {
  std::map<std::pair<int, int>, double> bytes;
  for (const Op& op : plan.ops())
    if (op.kind == OpKind::ALL_TO_ALL && op.tags.phase == phase)
      for (const Transfer& t : plan.matrices()[op.matrix].transfers)
        bytes[op.reversed ? std::pair(t.dst, t.src) : std::pair(t.src, t.dst)] += t.bytes;
  return bytes;
}

std::map<std::pair<int, int>, double> transposed(const std::map<std::pair<int, int>, double>& bytes) {
  std::map<std::pair<int, int>, double> out;
  for (const auto& [pair, b] : bytes) out[{pair.second, pair.first}] = b;
  return out;
}

std::map<A2aPhase, double> bytes_by_phase(const Plan& plan) {
  std::map<A2aPhase, double> bytes;
  for (const Op& op : plan.ops())
    if (op.kind == OpKind::ALL_TO_ALL) bytes[op.tags.phase] += plan.matrices()[op.matrix].total_bytes();
  return bytes;
}

TEST(A2a, DirectCarriesEveryRemoteCopyOnce) {
  const Fixture f;
  const BuiltPlan built = f.plan("contiguous", "none", "direct");
  const TokenExchange x = exchange_tokens(built.routing[0], built.placement);
  double remote = 0.0;
  for (int src = 0; src < x.num_gpus(); ++src)
    for (int p = 0; p < 32; ++p)
      if (x.group_base(src) + p != src) remote += static_cast<double>(x.pair(src, p));
  const double bytes_per_copy = f.scenario.model.bytes_per_token_copy();
  const auto phases = bytes_by_phase(built.plan);
  EXPECT_DOUBLE_EQ(phases.at(A2aPhase::DISPATCH), remote * bytes_per_copy);
  // Pair by pair, as the data flows: the dispatch carries each remote copy from its token's GPU to
  // its expert's; the combine brings it back (the transpose); the backward's combine-grad travels
  // like the dispatch and its dispatch-grad like the combine. (The phases share matrices, so
  // comparing totals would compare a matrix with itself.)
  const auto dispatch = traffic(built.plan, A2aPhase::DISPATCH);
  for (int src = 0; src < x.num_gpus(); ++src)
    for (int p = 0; p < 32; ++p) {
      const int dst = x.group_base(src) + p;
      if (dst == src || x.pair(src, p) == 0) continue;
      const auto it = dispatch.find({src, dst});
      ASSERT_NE(it, dispatch.end()) << src << " -> " << dst;
      EXPECT_DOUBLE_EQ(it->second, static_cast<double>(x.pair(src, p)) * bytes_per_copy) << src << " -> " << dst;
    }
  EXPECT_EQ(traffic(built.plan, A2aPhase::COMBINE), transposed(dispatch));
  EXPECT_EQ(traffic(built.plan, A2aPhase::COMBINE_GRAD), dispatch);
  EXPECT_EQ(traffic(built.plan, A2aPhase::DISPATCH_GRAD), transposed(dispatch));
}

// Hierarchical (DeepEP-style): between nodes only rail-aligned sends (a source to its own rail's
// GPU in the destination node), each carrying the source's distinct tokens for that node (at
// least its copies / top_k, at most its copies); inside nodes the copies themselves, every
// destination GPU receiving exactly its copies (directly or forwarded by a rail GPU).
TEST(A2a, HierarchicalSendsTokensOncePerNodeOnTheSourcesRailAndForwardsTheCopies) {
  const Fixture f;
  const BuiltPlan built = f.plan("contiguous", "none", "hierarchical");
  const TokenExchange x = exchange_tokens(built.routing[0], built.placement);
  const int k = f.scenario.model.top_k;
  const std::vector<TransferMatrix> stages = build_a2a_stages(x, 0, A2aAlgorithm::HIERARCHICAL, f.topology, 1.0, k);
  ASSERT_EQ(stages.size(), 1u);
  const int ep = x.expert_parallel();
  std::map<std::pair<int, int>, double> copies_to_node;  // direct: (source, node) -> copies
  std::map<int, double> copies_to_gpu;
  const std::vector<TransferMatrix> direct = build_a2a_stages(x, 0, A2aAlgorithm::DIRECT, f.topology, 1.0, k);
  for (const Transfer& t : direct[0].transfers) {
    if (t.src / 8 != t.dst / 8) copies_to_node[{t.src, t.dst / 8}] += t.bytes;
    copies_to_gpu[t.dst] += t.bytes;
  }
  std::map<int, double> received;
  for (const Transfer& t : stages[0].transfers) {
    ASSERT_LT(t.src, ep);
    ASSERT_LT(t.dst, ep);
    if (t.src / 8 == t.dst / 8) {
      received[t.dst] += t.bytes;
      continue;
    }
    EXPECT_EQ(t.src % 8, t.dst % 8) << "between nodes on the source's rail";
    const double copies = copies_to_node.at({t.src, t.dst / 8});
    EXPECT_GE(t.bytes, copies / k - 1e-9);
    EXPECT_LE(t.bytes, copies + 1e-9);
  }
  // Every GPU gets its copies: forwarded inside its node or sent by a same-node source, plus the
  // copies of its own rail's sources that reach it over the network.
  for (const auto& [gpu, copies] : copies_to_gpu) {
    double network_own = 0.0;
    for (int src = 0; src < ep; ++src)
      if (src / 8 != gpu / 8 && src % 8 == gpu % 8) network_own += static_cast<double>(x.pair(src, gpu));
    EXPECT_NEAR(received[gpu] + network_own, copies, 1e-9) << gpu;
  }
}

TEST(A2a, UniqueTokensLieBetweenCopiesOverTopKAndCopies) {
  EXPECT_DOUBLE_EQ(unique_tokens(100.0, 0.0, 8), 0.0);
  EXPECT_DOUBLE_EQ(unique_tokens(100.0, 800.0, 8), 100.0);  // every copy there: each token once
  EXPECT_DOUBLE_EQ(unique_tokens(100.0, 5.0, 1), 5.0);      // top-1: no duplicates
  // 1000 tokens, top-8, a quarter of the copies on one node: 1000 x (1 - 0.75^8) = 899.9
  EXPECT_NEAR(unique_tokens(1000.0, 2000.0, 8), 1000.0 * (1.0 - std::pow(0.75, 8)), 1e-9);
  for (double copies : {1.0, 10.0, 100.0, 1000.0, 7999.0}) {
    EXPECT_GE(unique_tokens(1000.0, copies, 8), copies / 8);
    EXPECT_LE(unique_tokens(1000.0, copies, 8), copies);
  }
}

// bytes_into's binary searches against a scan of the whole matrix, both directions, on random
// sparse matrices sorted as plans keep them (self-copies included: never counted).
TEST(A2a, BytesIntoAGpuAreItsRemoteReceiptsEitherWay) {
  std::mt19937_64 rng(44);
  for (int trial = 0; trial < 50; ++trial) {
    const int gpus = std::uniform_int_distribution<int>(1, 40)(rng);
    TransferMatrix m;
    for (int src = 0; src < gpus; ++src)
      for (int dst = 0; dst < gpus; ++dst)
        if (std::uniform_int_distribution<int>(0, 3)(rng) == 0)
          m.transfers.push_back({src, dst, static_cast<double>(std::uniform_int_distribution<int>(1, 1000)(rng))});
    for (int g = -1; g <= gpus; ++g) {
      double into = 0.0, reversed_into = 0.0;
      for (const Transfer& t : m.transfers) {
        if (t.dst == g && t.src != g) into += t.bytes;
        if (t.src == g && t.dst != g) reversed_into += t.bytes;
      }
      EXPECT_EQ(m.bytes_into(g), into) << trial << " gpu " << g;
      EXPECT_EQ(m.bytes_into(g, true), reversed_into) << trial << " gpu " << g;
    }
  }
}

TEST(Partition, SplitsAddUpExactly) {
  const Fixture f;
  const RoutingMatrix routing = Workload(f.scenario.workload, {64, 32, 64, 4}).sample(0);
  const std::vector<RoutingMatrix> parts = split_routing(routing, {0.1, 0.2, 0.3, 0.4});
  for (int src = 0; src < 64; ++src)
    for (int e = 0; e < 64; ++e) {
      std::int64_t sum = 0;
      for (const RoutingMatrix& part : parts) {
        EXPECT_GE(part.at(src, e), 0);
        sum += part.at(src, e);
      }
      ASSERT_EQ(sum, routing.at(src, e));
    }
}

TEST(Plan, EveryPolicyComputesEveryCopyOnceForwardAndTwiceTheFlopsBackward) {
  const Fixture f;
  const double copies = static_cast<double>(Workload(f.scenario.workload, {64, 32, 64, 4}).sample(0).total());
  for (const char* partition : {"none", "fixed:3", "tapered:4", "dynamic", "fine"}) {
    for (const char* a2a : {"direct", "hierarchical"}) {
      const BuiltPlan built = f.plan("topology", partition, a2a);
      EXPECT_DOUBLE_EQ(forward_gemm_tokens(built.plan), copies) << partition << " " << a2a;
      double forward = 0, backward = 0;
      for (const Op& op : built.plan.ops())
        if (op.kind == OpKind::EXPERT_GEMM || op.kind == OpKind::EXPERT_WGRAD)
          (op.tags.direction == Direction::FORWARD ? forward : backward) += op.flops;
      EXPECT_DOUBLE_EQ(backward, 2 * forward) << partition;
      const auto phases = bytes_by_phase(built.plan);
      EXPECT_DOUBLE_EQ(phases.at(A2aPhase::DISPATCH), phases.at(A2aPhase::COMBINE)) << partition << " " << a2a;
    }
  }
}

TEST(Plan, IsADagReachableFromTheFirstLayersOps) {
  const Fixture f;
  const BuiltPlan built = f.plan("contiguous", "fixed:4", "hierarchical", 2, 2);
  const Plan& plan = built.plan;
  std::vector<bool> reached(plan.ops().size(), false);
  for (const Op& op : plan.ops()) {
    const auto deps = plan.deps(op.id);
    for (std::int32_t dep : deps) ASSERT_LT(dep, op.id) << "dependencies come first: acyclic";
    if (deps.empty()) {
      EXPECT_EQ(op.kind, OpKind::NON_MOE);
      EXPECT_EQ(op.tags.layer, 0);
      EXPECT_EQ(op.tags.step, 0);
      reached[op.id] = true;
    }
    for (std::int32_t dep : deps) reached[op.id] = reached[op.id] || reached[dep];
  }
  EXPECT_EQ(std::count(reached.begin(), reached.end(), false), 0);
  // Every op leads on to later work except the last op on each GPU: nothing is left dangling.
  std::vector<int> successors(plan.ops().size(), 0);
  for (const Op& op : plan.ops())
    for (std::int32_t dep : plan.deps(op.id)) ++successors[dep];
  int sinks = 0;
  for (const Op& op : plan.ops()) sinks += successors[op.id] == 0 ? 1 : 0;
  EXPECT_EQ(sinks, f.topology.num_gpus());
}

TEST(Plan, NoneHasNoOverlapEdgesAndFixedHasKChunksPerPhase) {
  const Fixture f;
  const Plan none = f.plan("contiguous", "none", "direct").plan;
  for (const Op& op : none.ops()) {
    EXPECT_EQ(op.tags.chunk, 0);
    for (std::int32_t dep : none.deps(op.id)) EXPECT_EQ(none.ops()[dep].tags.chunk, 0);
  }
  const Plan fixed = f.plan("contiguous", "fixed:5", "direct").plan;
  std::map<std::pair<A2aPhase, int>, std::set<int>> chunks;  // (phase, group) -> chunk ids
  for (const Op& op : fixed.ops())
    if (op.kind == OpKind::ALL_TO_ALL) chunks[{op.tags.phase, op.group}].insert(op.tags.chunk);
  ASSERT_EQ(chunks.size(), 4u * 2u);  // 4 phases x 2 groups
  for (const auto& [key, ids] : chunks) EXPECT_EQ(ids, (std::set<int>{0, 1, 2, 3, 4}));
  // Chunk c's GEMM on a GPU waits for chunk c-1's GEMM there: the compute stream's order.
  int ordered = 0;
  for (const Op& op : fixed.ops())
    if (op.kind == OpKind::EXPERT_GEMM && op.tags.chunk > 0)
      for (std::int32_t dep : fixed.deps(op.id)) {
        const Op& before = fixed.ops()[dep];
        ordered += before.kind == OpKind::EXPERT_GEMM && before.tags.chunk == op.tags.chunk - 1 && before.gpu == op.gpu;
      }
  EXPECT_EQ(ordered, 64 * 4 * 2);  // 64 GPUs x 4 later chunks x forward and backward
}

// The backward's weight gradient: one op per GPU over every chunk's tokens (its expert work sums
// the chunks' data-gradient work), after the last data gradient; no dispatch-grad all-to-all
// waits for it; the layer's backward ends (its gate op) after it.
TEST(Plan, OneWeightGradientPerGpuOverlapsTheLastDispatchGrad) {
  const Fixture f;
  const Plan plan = f.plan("contiguous", "fixed:3", "direct").plan;
  std::map<std::int32_t, std::map<std::int32_t, std::int64_t>> data_tokens;  // gpu -> expert -> backward GEMM tokens
  for (const Op& op : plan.ops())
    if (op.kind == OpKind::EXPERT_GEMM && op.tags.direction == Direction::BACKWARD)
      for (const ExpertWork& w : plan.work(op)) data_tokens[op.gpu][w.expert] += w.tokens;
  int wgrads = 0, dispatch_grads = 0;
  for (const Op& op : plan.ops()) {
    if (op.kind == OpKind::EXPERT_WGRAD) {
      ++wgrads;
      EXPECT_EQ(op.tags.direction, Direction::BACKWARD);
      ASSERT_EQ(plan.deps(op.id).size(), 1u);
      const Op& data = plan.ops()[plan.deps(op.id)[0]];
      EXPECT_EQ(data.kind, OpKind::EXPERT_GEMM);
      EXPECT_EQ(data.gpu, op.gpu);
      EXPECT_EQ(data.tags.chunk, 2);  // the last chunk's data gradient
      std::map<std::int32_t, std::int64_t> tokens;
      for (const ExpertWork& w : plan.work(op)) tokens[w.expert] += w.tokens;
      EXPECT_EQ(tokens, data_tokens[op.gpu]) << "GPU " << op.gpu;
    }
    if (op.kind == OpKind::ALL_TO_ALL && op.tags.phase == A2aPhase::DISPATCH_GRAD && op.tags.stage == 0) {
      ++dispatch_grads;
      for (std::int32_t dep : plan.deps(op.id)) EXPECT_NE(plan.ops()[dep].kind, OpKind::EXPERT_WGRAD);
    }
    if (op.kind == OpKind::GATE && op.tags.direction == Direction::BACKWARD) {
      bool after_wgrad = false;
      for (std::int32_t dep : plan.deps(op.id)) after_wgrad |= plan.ops()[dep].kind == OpKind::EXPERT_WGRAD;
      EXPECT_TRUE(after_wgrad) << "op " << op.id;
    }
  }
  EXPECT_EQ(wgrads, 64);             // every GPU once
  EXPECT_EQ(dispatch_grads, 2 * 3);  // two groups, three chunks
}

TEST(Plan, SameSeedSameHashOtherSeedOtherHash) {
  const Fixture a, b;
  EXPECT_EQ(a.plan("topology", "dynamic", "hierarchical").plan.stable_hash(),
            b.plan("topology", "dynamic", "hierarchical").plan.stable_hash());
  std::string reseeded = SCENARIO;
  reseeded.replace(reseeded.find("seed: 3"), 7, "seed: 4");
  const Fixture c(reseeded);
  EXPECT_NE(a.plan("topology", "dynamic", "hierarchical").plan.stable_hash(),
            c.plan("topology", "dynamic", "hierarchical").plan.stable_hash());
  EXPECT_NE(a.plan("topology", "fixed:2", "direct").plan.stable_hash(), a.plan("topology", "fixed:3", "direct").plan.stable_hash());
}

// Two policies that emit the same work (fixed:1 cuts nothing, like none) share a work hash, not a
// stable hash (the policy names differ); other work changes both.
TEST(Plan, WorkHashIgnoresOnlyThePolicyNames) {
  const Fixture f;
  const Plan none = f.plan("contiguous", "none", "direct").plan;
  const Plan one_chunk = f.plan("contiguous", "fixed:1", "direct").plan;
  EXPECT_NE(none.stable_hash(), one_chunk.stable_hash());
  EXPECT_EQ(none.work_hash(), one_chunk.work_hash());
  EXPECT_NE(none.work_hash(), f.plan("contiguous", "fixed:2", "direct").plan.work_hash());
  EXPECT_NE(none.work_hash(), f.plan("strided", "none", "direct").plan.work_hash());
}

TEST(Plan, ZeroTokensAndSingleGpuGroupsWork) {
  std::string empty = SCENARIO;
  empty.replace(empty.find("tokens_per_gpu: 512"), 19, "tokens_per_gpu: 0");
  const Fixture zero(empty);
  const BuiltPlan built = zero.plan("topology", "fixed:2", "direct");
  EXPECT_DOUBLE_EQ(forward_gemm_tokens(built.plan), 0.0);
  for (const Op& op : built.plan.ops()) EXPECT_NE(op.kind, OpKind::ALL_TO_ALL) << "nothing to exchange";
  std::string ep1 = SCENARIO;
  ep1.replace(ep1.find("expert_parallel: 32"), 19, "expert_parallel: 1");
  const Fixture local(ep1);
  const Plan plan = local.plan("contiguous", "fine", "direct").plan;
  for (const Op& op : plan.ops()) ASSERT_NE(op.kind, OpKind::ALL_TO_ALL);
  EXPECT_GT(forward_gemm_tokens(plan), 0.0);
}

// The shared experts (qwen2-57b-a14b has one of FFN 20480): one op per GPU, layer and direction,
// with the forward's flops (the backward twice), after the gate and the first permute in the
// forward and after the first unpermute in the backward, and waited for before the layer ends;
// the analytical engine then runs the forward's beside the first dispatch. A model without them
// gets none.
TEST(Plan, SharedExpertsRunBesideTheFirstDispatchAndCombineGrad) {
  std::string text = SCENARIO;
  text.replace(text.find("qwen2-moe"), 9, "qwen2-57b-a14b");
  const Fixture f(text);
  const BuiltPlan built = f.plan("contiguous", "fixed:4", "direct", 2);
  const Plan& plan = built.plan;
  const MoeModel& m = f.scenario.model;
  ASSERT_GT(m.shared_experts, 0);
  const std::vector<std::int64_t> sent = built.routing[0].per_source();
  const Successors next = successors_of(plan);
  int shared_ops = 0;
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::SHARED_EXPERT) continue;
    ++shared_ops;
    const bool forward = op.tags.direction == Direction::FORWARD;
    const double tokens = static_cast<double>(sent[op.gpu]) / m.top_k;
    EXPECT_DOUBLE_EQ(op.flops, (forward ? 1.0 : 2.0) * tokens * shared_expert_flops_per_token(m));
    // The first chunk's permute (forward) or unpermute (backward) of this GPU and layer comes first.
    const OpKind first = forward ? OpKind::PERMUTE : OpKind::UNPERMUTE;
    bool preceded = false;
    for (const Op& other : plan.ops())
      preceded = preceded || (other.id < op.id && other.kind == first && other.gpu == op.gpu && other.tags.chunk == 0 &&
                              other.tags.layer == op.tags.layer && other.tags.direction == op.tags.direction);
    EXPECT_TRUE(preceded) << "op " << op.id;
    if (forward) {
      ASSERT_EQ(plan.deps(op.id).size(), 1u);
      EXPECT_EQ(plan.ops()[plan.deps(op.id)[0]].kind, OpKind::GATE);
    }
    EXPECT_FALSE(next.of(op.id).empty()) << "the layer's end waits for op " << op.id;
  }
  EXPECT_EQ(shared_ops, 2 * 2 * f.topology.num_gpus());  // 2 layers, forward and backward
  // Simulated: GPU 0's first forward shared expert runs while its first dispatch travels.
  const Timeline timeline = make_executor("analytical")->run(plan, f.topology, f.cost_model);
  const Op* shared = nullptr;
  const Op* dispatch = nullptr;
  for (const Op& op : plan.ops()) {
    if (!shared && op.kind == OpKind::SHARED_EXPERT && op.gpu == 0) shared = &op;
    if (!dispatch && op.kind == OpKind::ALL_TO_ALL && op.tags.phase == A2aPhase::DISPATCH && op.group == 0) dispatch = &op;
  }
  ASSERT_TRUE(shared && dispatch);
  const TimelineOp& s = timeline.ops[shared->id];
  const TimelineOp& d = timeline.ops[dispatch->id];
  EXPECT_LT(std::max(s.start_s, d.start_s), std::min(s.end_s, d.end_s)) << "they overlap";
  // Without shared experts, no such op.
  const BuiltPlan without = Fixture().plan("contiguous", "fixed:4", "direct");
  for (const Op& op : without.plan.ops()) EXPECT_NE(op.kind, OpKind::SHARED_EXPERT);
}

TEST(Partition, FineComputesTheLocalNodeFirst) {
  const Fixture f;
  const BuiltPlan built = f.plan("contiguous", "fine", "direct");
  // Chunk 0 of a dispatch holds only same-node pairs (source distance 0).
  for (const Op& op : built.plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL || op.tags.phase != A2aPhase::DISPATCH) continue;
    for (const Transfer& t : built.plan.matrices()[op.matrix].transfers) {
      if (op.tags.chunk == 0) {
        EXPECT_EQ(t.src / 8, t.dst / 8);
      } else {
        EXPECT_NE(t.src / 8, t.dst / 8);
      }
    }
  }
  for (const Op& op : built.plan.ops())
    if (op.kind == OpKind::EXPERT_GEMM || op.kind == OpKind::EXPERT_WGRAD) {
      EXPECT_DOUBLE_EQ(op.compute_sm_fraction, 1.0 - static_cast<double>(FINE_COMM_SMS) / f.cost_model.sm_count);
    }
  // The real run sets that share as the cuBLAS GEMMs' SM target; `none` sets none.
  EXPECT_DOUBLE_EQ(cublas_expert_sm_fraction(built.plan), 1.0 - static_cast<double>(FINE_COMM_SMS) / f.cost_model.sm_count);
  EXPECT_EQ(cublas_expert_sm_fraction(f.plan("contiguous", "none", "direct").plan), 1.0);
}

// tapered:K: the first and last chunk carry half the copies of each middle one (within the
// per-cell rounding), together every copy once; below K = 3 it is the equal split.
TEST(Partition, TaperedHalvesTheFirstAndLastChunk) {
  const Fixture f;
  const RoutingMatrix routing = Workload(f.scenario.workload, {64, 32, 64, 4}).sample(0);
  const BuiltPlan built = f.plan("contiguous", "fixed:1", "direct");
  const PartitionInputs in{&routing, &built.placement, &f.topology, &f.costs, &f.cost_model, &f.scenario.model, {}, {}, {}, {}};
  const ChunkPlan tapered = partition_tokens(parse_policy(PolicyFamily::PARTITION, "tapered:4"), in);
  ASSERT_EQ(tapered.parts.size(), 4u);
  std::vector<double> copies;
  for (const RoutingMatrix& part : tapered.parts) copies.push_back(static_cast<double>(part.total()));
  const double total = static_cast<double>(routing.total()), cells = 64.0 * 64.0;
  EXPECT_DOUBLE_EQ(copies[0] + copies[1] + copies[2] + copies[3], total);
  for (int c : {0, 3}) EXPECT_NEAR(copies[c], total / 6, cells) << c;
  for (int c : {1, 2}) EXPECT_NEAR(copies[c], total / 3, cells) << c;
  EXPECT_LT(copies[0], 0.6 * copies[1]);
  const ChunkPlan two = partition_tokens(parse_policy(PolicyFamily::PARTITION, "tapered:2"), in);
  const ChunkPlan equal = partition_tokens(parse_policy(PolicyFamily::PARTITION, "fixed:2"), in);
  for (int c = 0; c < 2; ++c) EXPECT_EQ(two.parts[c].total(), equal.parts[c].total()) << c;
}

// dynamic with a rough pricer: every candidate ranked roughly, only those within
// DYNAMIC_RE_PRICE_MARGIN of the rough cheapest priced exactly, the choice and its prediction the
// exact pricer's. Synthetic prices: exact 100 + |K - 6| ms, rough 0.1% above (a uniform bias).
TEST(Partition, DynamicPricesExactlyOnlyTheCandidatesTheRoughPricerPutsNearTheCheapest) {
  const Fixture f;
  const RoutingMatrix routing = Workload(f.scenario.workload, {64, 32, 64, 4}).sample(0);
  const BuiltPlan built = f.plan("contiguous", "fixed:1", "direct");
  std::atomic<int> exact_calls = 0, rough_calls = 0;
  const auto exact = [&](const ChunkPlan& c) {
    ++exact_calls;
    return 1e-3 * (100.0 + std::abs(static_cast<double>(c.chunks.size()) - 6.0));
  };
  const auto rough = [&](const ChunkPlan& c) {
    ++rough_calls;
    return 1e-3 * (100.0 + std::abs(static_cast<double>(c.chunks.size()) - 6.0)) * 1.001;
  };
  PartitionInputs in{&routing, &built.placement, &f.topology, &f.costs, &f.cost_model, &f.scenario.model, exact, rough, {}, {}};
  const ChunkPlan chosen = partition_tokens(parse_policy(PolicyFamily::PARTITION, "dynamic"), in);
  EXPECT_EQ(chosen.chunks.size(), 6u);
  EXPECT_DOUBLE_EQ(chosen.predicted_makespan_s, 100e-3);
  EXPECT_NE(chosen.description.find("6 equal chunks"), std::string::npos) << chosen.description;
  // Equal counts: all roughly, K = 6 alone exactly; then the two other shapes at K = 6, exactly.
  EXPECT_EQ(rough_calls, static_cast<int>(std::size(DYNAMIC_CHUNK_COUNTS)));
  EXPECT_EQ(exact_calls, 1 + 2);
  // Without a rough pricer every candidate is priced exactly, and the choice is the same.
  exact_calls = 0;
  in.rough_layer_time_s = nullptr;
  const ChunkPlan alone = partition_tokens(parse_policy(PolicyFamily::PARTITION, "dynamic"), in);
  EXPECT_EQ(alone.description, chosen.description);
  EXPECT_EQ(exact_calls, static_cast<int>(std::size(DYNAMIC_CHUNK_COUNTS)) + 2);
}

// Copies to the source's own experts need no all-to-all: they fill the pipeline's first and last
// chunk, whose dispatch and combine nothing can overlap. Two GPUs, experts 0-1 on GPU 0 and 2-3
// on GPU 1; GPU 0 sends 60 copies to its own experts and 40 to GPU 1's.
TEST(Partition, LocalCopiesFillTheFirstAndLastChunk) {
  const ExpertPlacement placement("contiguous", 2, {{0}, {0}, {1}, {1}});
  RoutingMatrix routing(2, 4);
  const std::int32_t row0[] = {30, 30, 20, 20}, row1[] = {25, 25, 25, 25};
  for (int e = 0; e < 4; ++e) routing.at(0, e) = row0[e], routing.at(1, e) = row1[e];
  // tapered:4 chunk sizes 100 x [1/6, 1/3, 1/3, 1/6]: the ends (17 copies) take local copies only.
  const std::vector<RoutingMatrix> parts = split_routing_local_ends(routing, placement, {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6});
  ASSERT_EQ(parts.size(), 4u);
  for (int src = 0; src < 2; ++src)
    for (int e = 0; e < 4; ++e) {
      std::int64_t sum = 0;
      for (const RoutingMatrix& part : parts) sum += part.at(src, e);
      EXPECT_EQ(sum, routing.at(src, e)) << src << " " << e;
    }
  for (int src = 0; src < 2; ++src) {
    const int remote_first = src == 0 ? 2 : 0;
    std::vector<std::int64_t> size(4, 0), remote(4, 0);
    for (int c = 0; c < 4; ++c)
      for (int e = 0; e < 4; ++e) {
        size[c] += parts[c].at(src, e);
        if (e >= remote_first && e < remote_first + 2) remote[c] += parts[c].at(src, e);
      }
    EXPECT_EQ(remote[0], 0) << "first chunk of GPU " << src << " must stay local";
    EXPECT_EQ(remote[3], 0) << "last chunk of GPU " << src << " must stay local";
    // Each cell rounds on its own: a chunk may be off by one copy per cell (4).
    for (int c : {0, 3}) EXPECT_NEAR(size[c], 100.0 / 6, 4.0) << src << " chunk " << c;
    for (int c : {1, 2}) EXPECT_NEAR(size[c], 100.0 / 3, 4.0) << src << " chunk " << c;
  }
  // fixed:2 on GPU 0: each half takes half of the local copies (30) and half of the remote (20).
  const std::vector<RoutingMatrix> halves = split_routing_local_ends(routing, placement, {0.5, 0.5});
  EXPECT_EQ(halves[0].at(0, 0) + halves[0].at(0, 1), 30);
  EXPECT_EQ(halves[0].at(0, 2) + halves[0].at(0, 3), 20);
}

// dynamic prices every candidate with the analytical engine: its printed prediction is the layer
// time the engine reports for its own one-layer Plan, and no fixed:K Plan runs faster there.
TEST(Partition, DynamicPredictsWithTheAnalyticalEngine) {
  const Fixture f;
  const BuiltPlan chosen = f.plan("contiguous", "dynamic", "direct", 1, 1, true);
  const double engine_s = AnalyticalEngine().run(chosen.plan, f.topology, f.cost_model).makespan_s();
  EXPECT_EQ(chosen.chunks.front().predicted_makespan_s, engine_s);
  const std::string& choice = chosen.partition_choices.front();
  EXPECT_NE(choice.find(fmt::format("predicted layer {:.3f} ms", engine_s * 1e3)), std::string::npos) << choice;
  for (int k : {1, 2, 3, 4, 8, 16}) {
    const BuiltPlan fixed = f.plan("contiguous", fmt::format("fixed:{}", k), "direct");
    EXPECT_LE(engine_s, AnalyticalEngine().run(fixed.plan, f.topology, f.cost_model).makespan_s() * (1 + 1e-12)) << k;
  }
}

}  // namespace
}  // namespace comet
