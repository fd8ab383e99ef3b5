// Streaming dependencies (Plan::add's `streaming`, the fused policy `comet:B`) against closed
// forms on every engine this build has: a consumer starts with its producer and ends no earlier
// than the producer's end plus its tail; a held computation holds its stream; the fused
// transfer blocks cap a GPU's links. And the `comet:B` Plan: the same work as `none`, each pass
// split into its two projections, streaming edges where the fused kernels stream.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <tuple>

#include "critical_path.hpp"
#include "engine_fixtures.hpp"
#include "executor.hpp"
#include "input_error.hpp"
#include "op_costs.hpp"
#include "plan_builder.hpp"
#include "scenario_plans.hpp"
#include "test_support.hpp"

namespace comet {
namespace {

using testing::engines_under_test;
using testing::ideal_links;

// One 8-GPU node, Mixtral's experts over all 8 (EP 8): small enough for every engine.
const std::string NODE_LAYER = R"(name: node-layer
topology:
  name: node-8
  kind: node
  node: {gpus: 8, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 0}
model: {preset: mixtral-8x7b}
parallelism: {expert_parallel: 8}
workload:
  tokens_per_gpu: 2048
  seed: 5
  routing: {kind: zipf, alpha: 0.6}
)";

BuiltPlan layer_plan(const testing::ScenarioPlans& s, const std::string& partition) {
  return s.plan("contiguous", partition, "direct");
}

const std::string TWO_GPUS = "name: t\nkind: node\nnode: {gpus: 2, fabric: nvswitch, gpu_link_bandwidth: 100GB/s, nics: 0}\n"
                             "latency: {nvlink: 2us}\n";
constexpr double HOPS_S = 4e-6;  // GPU -> NVSwitch -> GPU, 2 us each

// A two-GPU plan built by hand: all-to-alls from GPU 0 to GPU 1, expert GEMMs of one expert.
struct HandPlan {
  Plan plan;
  explicit HandPlan(int transfer_blocks = 0)
      : plan(PlanHeader{2, 2, 1, 1, 4096, 14336, "test", "test", "test", transfer_blocks}) {}
  std::int32_t transfer(double bytes, std::vector<std::int32_t> deps = {}, std::vector<std::int32_t> streaming = {}) {
    Op op;
    op.kind = OpKind::ALL_TO_ALL;
    op.matrix = plan.add_matrix({{{0, 1, bytes}}});
    return plan.add(op, deps, streaming);
  }
  // One fused projection of expert work `rows` (one row count per expert) on `sm_fraction` of the
  // SMs: stage 0, the forward's gate + up (2 x 14336 output columns); stage 1, its down projection (4096).
  std::int32_t gemm(int gpu, std::vector<std::int64_t> rows, std::vector<std::int32_t> deps = {}, std::vector<std::int32_t> streaming = {},
                    int stage = 0, double sm_fraction = 1.0) {
    Op op;
    op.kind = OpKind::EXPERT_GEMM;
    op.gpu = gpu;
    op.tags.stage = stage;
    op.compute_sm_fraction = sm_fraction;
    std::vector<ExpertWork> work;
    for (std::size_t e = 0; e < rows.size(); ++e) work.push_back({static_cast<std::int32_t>(e), rows[e]});
    op.first_work = plan.add_work(work);
    op.num_work = static_cast<std::int32_t>(work.size());
    return plan.add(op, deps, streaming);
  }
  double seconds(std::int32_t op, const CostModel& model) const { return compute_time_s(plan, plan.ops()[op], model); }
  double tail(std::int32_t op, const CostModel& model) const { return streaming_tail_s(plan, plan.ops()[op], model); }
};

TEST(Streaming, AGemmStreamingFromAnAllToAllStartsWithItAndEndsAfterItsLastRowsOrItsWork) {
  const Topology t = testing::topology_from_yaml(TWO_GPUS);
  const CostModel model = ideal_links();
  const double transfer_s = HOPS_S + 1e9 / 100e9;  // 10 ms
  // 1024 rows: a GEMM far shorter than the transfer; 65536 rows: far longer.
  for (std::int64_t rows : {1024, 65536}) {
    HandPlan p;
    const std::int32_t x = p.transfer(1e9);
    const std::int32_t g = p.gemm(1, {rows}, {}, {x});
    const double work = p.seconds(g, model), tail = p.tail(g, model);
    // The last M tile's 112 N tiles (28672 columns) side by side on 132 SMs: one tile time, in
    // ceil(8 x 112 / 132) = 7 waves at 1024 rows, ceil(512 x 112 / 132) = 435 at 65536.
    EXPECT_NEAR(tail, work / (rows == 1024 ? 7.0 : 435.0), 1e-15);
    ASSERT_TRUE(rows == 1024 ? work < 0.5 * transfer_s : work > 2.0 * transfer_s) << rows;
    const double expected_end = std::max(work, transfer_s + tail);
    for (const std::string& engine : engines_under_test()) {
      const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
      EXPECT_NEAR(timeline.ops[g].start_s, 0.0, 1e-12) << engine << ", " << rows << " rows";
      EXPECT_NEAR(timeline.ops[g].end_s, expected_end, 1e-9) << engine << ", " << rows << " rows";
      EXPECT_NEAR(timeline.ops[x].end_s, transfer_s, 1e-9) << engine;
      // The critical path: the transfer, then the GEMM's last tile, when the GEMM waited for its
      // rows; the GEMM alone (the transfer hidden under it) when it did not.
      EXPECT_EQ(timeline.ops[g].ended_by_stream, rows == 1024) << engine;
      EXPECT_NEAR(timeline.ops[g].stream_wait_s, rows == 1024 ? transfer_s + tail - work : 0.0, 1e-9) << engine;
      const Timeline read_back = timeline_from_json(nlohmann::json::parse(timeline_to_json(timeline).dump()), "t.json");
      EXPECT_EQ(read_back.ops[g].ended_by_stream, timeline.ops[g].ended_by_stream);
      EXPECT_EQ(read_back.ops[g].stream_wait_s, timeline.ops[g].stream_wait_s);
      const CriticalPath path = critical_path(p.plan, timeline);
      EXPECT_NEAR(path.all_to_all_s, rows == 1024 ? transfer_s : 0.0, 1e-9) << engine << ", " << rows << " rows";
      EXPECT_NEAR(path.compute_s, rows == 1024 ? tail : work, 1e-9) << engine << ", " << rows << " rows";
    }
  }
}

TEST(Streaming, AnAllToAllStreamingFromAGemmEndsAfterItsLastTileOrItsBytes) {
  const Topology t = testing::topology_from_yaml(TWO_GPUS);
  const CostModel model = ideal_links();
  // 1 MB moves in ~14 us, well before the GEMM ends; 4 GB take 40 ms, well after.
  for (double bytes : {1e6, 4e9}) {
    HandPlan p(8);  // 8 blocks x 25 GB/s cap the 100 GB/s links at 200: no effect
    const std::int32_t g = p.gemm(0, {8192}, {}, {}, 1);
    const std::int32_t y = p.transfer(bytes, {}, {g});
    const double work = p.seconds(g, model), tail = p.tail(y, model), transfer_s = HOPS_S + bytes / 100e9;
    // The down projection's 64 x 16 tiles in waves of 132: the last wave's 1024 - 7 x 132 = 100
    // tiles of 128 rows x 256 columns of bf16, sent by 8 blocks.
    EXPECT_NEAR(tail, 100 * 128.0 * 256 * 2.0 / (8 * model.fused_block_Bps), 1e-15);
    ASSERT_TRUE(bytes < 1e9 ? transfer_s < 0.5 * work : transfer_s > 2.0 * work) << bytes;
    for (const std::string& engine : engines_under_test()) {
      const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
      EXPECT_NEAR(timeline.ops[y].start_s, 0.0, 1e-12) << engine;
      EXPECT_NEAR(timeline.ops[y].end_s, std::max(transfer_s, work + tail), 1e-9) << engine << ", " << bytes << " bytes";
      if (timeline.gpu_part_ends.size() > static_cast<std::size_t>(y)) {  // engines that end parts on their own
        for (const GpuPartEnd& part : timeline.gpu_part_ends[y]) EXPECT_GE(part.end_s, work + tail - 1e-12) << engine;
      }
    }
  }
}

// GEMM G streams from a 10 ms transfer and would end after ~0.3 ms; GEMM H, on the same GPU's
// compute stream and ready at once, queues behind it: it starts when G really ends (the fused
// kernel holds its SMs while it waits for rows), not when G's work is done.
TEST(Streaming, AHeldGemmHoldsItsStream) {
  const Topology t = testing::topology_from_yaml(TWO_GPUS);
  const CostModel model = ideal_links();
  HandPlan p;
  const std::int32_t x = p.transfer(1e9);
  const std::int32_t g = p.gemm(1, {1024}, {}, {x});
  const std::int32_t h = p.gemm(1, {1024});
  const double g_end = HOPS_S + 1e9 / 100e9 + p.tail(g, model);
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
    EXPECT_NEAR(timeline.ops[g].end_s, g_end, 1e-9) << engine;
    EXPECT_NEAR(timeline.ops[h].start_s, g_end, 1e-9) << engine;
    EXPECT_NEAR(timeline.ops[h].end_s, g_end + p.seconds(h, model), 1e-9) << engine;
  }
}

// GEMM P queues behind GEMM Q on GPU 0's compute stream: the transfer streaming from P starts
// when P really starts (Q's end), not when P was queued.
TEST(Streaming, AConsumerStartsWhenItsQueuedProducerStarts) {
  const Topology t = testing::topology_from_yaml(TWO_GPUS);
  const CostModel model = ideal_links();
  HandPlan p(8);
  const std::int32_t q = p.gemm(0, {4096});
  const std::int32_t producer = p.gemm(0, {1024});
  const std::int32_t y = p.transfer(1e8, {}, {producer});
  const double q_end = p.seconds(q, model);
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
    EXPECT_NEAR(timeline.ops[producer].start_s, q_end, 1e-12) << engine;
    EXPECT_NEAR(timeline.ops[y].start_s, q_end, 1e-12) << engine;
    EXPECT_NEAR(timeline.ops[y].end_s, q_end + std::max(HOPS_S + 1e8 / 100e9, p.seconds(producer, model) + p.tail(y, model)), 1e-9)
        << engine;
  }
}

// A Plan whose transfers run on fused blocks: GPU links carry at most blocks x fused_block_Bps.
TEST(Streaming, FusedTransferBlocksCapTheGpuLinks) {
  const Topology t = testing::topology_from_yaml(TWO_GPUS);
  const CostModel model = ideal_links();
  for (int blocks : {0, 2, 8}) {
    HandPlan p(blocks);
    const std::int32_t x = p.transfer(1e9);
    const double Bps = blocks == 0 ? 100e9 : std::min(100e9, blocks * model.fused_block_Bps);
    for (const std::string& engine : engines_under_test()) {
      const Timeline timeline = make_executor(engine)->run(p.plan, t, model);
      EXPECT_NEAR(timeline.ops[x].end_s, HOPS_S + 1e9 / Bps, 1e-9) << engine << ", " << blocks << " blocks";
    }
  }
}

// Tiles per expert round up to whole M tiles (an empty expert has none), N tiles to the projection's
// columns; the waves are the SMs the op may use (8 of 132 SMs set aside: 124 at once).
TEST(Streaming, FusedTileWavesCountEachExpertsTilesAndTheWavesOfItsSms) {
  const CostModel model = ideal_links();
  ASSERT_EQ(model.sm_count, 132);
  HandPlan p(8);
  const double share = 1.0 - 8.0 / 132.0;
  const std::int32_t gate_up = p.gemm(0, {130, 0, 1, 1000}, {}, {}, 0, share), down = p.gemm(0, {130, 0, 1, 1000}, {}, {}, 1, share);
  // gate + up: 28672 columns, 112 N tiles; (2 + 0 + 1 + 8) M tiles -> 1232 tiles, ceil(1232 / 124) = 10 waves.
  FusedTileWaves w = fused_tile_waves(p.plan, p.plan.ops()[gate_up], model);
  EXPECT_EQ(std::make_tuple(w.columns, w.n_tiles, w.tiles, w.at_once, w.waves, w.last_wave_tiles),
            std::make_tuple(28672.0, 112.0, 1232.0, 124.0, 10.0, 1232.0 - 9 * 124.0));
  // down: 4096 columns, 16 N tiles -> 176 tiles, 2 waves, the last of 52.
  w = fused_tile_waves(p.plan, p.plan.ops()[down], model);
  EXPECT_EQ(std::make_tuple(w.columns, w.n_tiles, w.tiles, w.waves, w.last_wave_tiles), std::make_tuple(4096.0, 16.0, 176.0, 2.0, 52.0));
  // Its tail as a consumer: the last M tile's 16 N tiles fit one round, one tile time of two waves.
  EXPECT_NEAR(streaming_tail_s(p.plan, p.plan.ops()[down], model), compute_time_s(p.plan, p.plan.ops()[down], model) / 2.0, 1e-15);
}

// The copy side's fused launch (stage 0) lacks its 8 transfer blocks' SMs only while they copy its
// rows in, then has every SM (they join the GEMM): T + copy x 8/132 on all SMs' time T, and T / s
// on the other SMs when the copies outlast that. The send side (stage 1) lacks them all along; a
// GPU that receives nothing has every SM at once.
TEST(Streaming, TheCopySidesTransferBlocksJoinItsGemmOnceTheirRowsAreIn) {
  const CostModel model = ideal_links();
  const double share = 1.0 - 8.0 / 132.0;
  for (double bytes : {1e6, 1e8, 1e10}) {
    HandPlan fused(8), plain(0);
    const std::int32_t x = fused.transfer(bytes);
    const std::int32_t receiving = fused.gemm(1, {4096}, {}, {x}, 0, share), sending = fused.gemm(0, {4096}, {}, {x}, 0, share);
    const std::int32_t down = fused.gemm(1, {4096}, {}, {}, 1, share);
    const double all_sms = plain.seconds(plain.gemm(1, {4096}), model);  // the same work on every SM, not fused
    const double copy_s = bytes / (8 * model.fused_block_Bps);
    EXPECT_DOUBLE_EQ(fused_copy_time_s(fused.plan, fused.plan.ops()[receiving], model), copy_s);
    EXPECT_DOUBLE_EQ(fused_copy_time_s(fused.plan, fused.plan.ops()[sending], model), 0.0);
    EXPECT_DOUBLE_EQ(fused_copy_time_s(fused.plan, fused.plan.ops()[down], model), 0.0);
    EXPECT_NEAR(fused.seconds(receiving, model), std::min(all_sms / share, all_sms + copy_s * 8.0 / 132.0), all_sms * 1e-12) << bytes;
    EXPECT_NEAR(fused.seconds(sending, model), all_sms, all_sms * 1e-12) << bytes;
    EXPECT_NEAR(fused.seconds(down, model), plain.seconds(plain.gemm(1, {4096}, {}, {}, 1, share), model), all_sms * 1e-12);
  }
  // Both regimes were exercised: copies far shorter than the GEMM, and far longer.
  HandPlan plain(0);
  const double all_sms = plain.seconds(plain.gemm(1, {4096}), model);
  ASSERT_LT(1e6 / (8 * model.fused_block_Bps), 0.1 * all_sms);
  ASSERT_GT(1e10 / (8 * model.fused_block_Bps) * 8.0 / 132.0, all_sms / share - all_sms);
}

TEST(Streaming, APlanRefusesAStreamingEdgeThatIsAlsoAnOrdinaryOne) {
  HandPlan p;
  const std::int32_t x = p.transfer(1e6);
  EXPECT_THROW(p.gemm(1, {128}, {x}, {x}), std::logic_error);
  EXPECT_THROW(p.gemm(1, {128}, {}, {x + 5}), std::logic_error);
}

// comet:B does the work of `none` (same tokens, same flops per GPU and direction), split into
// two projections per pass; the first streams from the all-to-all that brings its rows and the
// next all-to-all streams from the second; everything else waits as in `none`.
TEST(Streaming, TheFusedPlanDoesTheWorkOfNoneWithStreamingWhereTheKernelsStream) {
  const testing::ScenarioPlans plans(NODE_LAYER, "node-layer.yaml");
  const BuiltPlan none = layer_plan(plans, "none");
  const BuiltPlan fused = layer_plan(plans, "comet:8");
  EXPECT_EQ(fused.plan.header().transfer_blocks, 8);
  EXPECT_EQ(none.plan.header().transfer_blocks, 0);
  EXPECT_NE(fused.plan.work_hash(), none.plan.work_hash());
  auto gemm_flops = [](const Plan& plan, Direction direction) {
    std::vector<double> flops(static_cast<std::size_t>(plan.header().num_gpus), 0.0);
    for (const Op& op : plan.ops())
      if (op.kind == OpKind::EXPERT_GEMM && op.tags.direction == direction) flops[op.gpu] += op.flops;
    return flops;
  };
  for (Direction d : {Direction::FORWARD, Direction::BACKWARD}) {
    const std::vector<double> a = gemm_flops(none.plan, d), b = gemm_flops(fused.plan, d);
    for (std::size_t g = 0; g < a.size(); ++g) EXPECT_NEAR(b[g], a[g], a[g] * 1e-12) << g;
  }
  int streamed_gemms = 0, streaming_a2as = 0;
  for (const Op& op : fused.plan.ops()) {
    const auto streaming = fused.plan.streaming_deps(op.id);
    if (op.kind == OpKind::EXPERT_GEMM) {
      const double first_share = op.tags.direction == Direction::FORWARD ? 2.0 / 3.0 : 1.0 / 3.0;
      EXPECT_NEAR(op.work_share, op.tags.stage == 0 ? first_share : 1.0 - first_share, 1e-15);
      EXPECT_LT(op.compute_sm_fraction, 1.0);
      if (op.tags.stage == 1) {
        EXPECT_TRUE(streaming.empty());
      }
    }
    for (std::int32_t producer : streaming) {
      const Op& from = fused.plan.ops()[producer];
      if (op.kind == OpKind::EXPERT_GEMM) {
        ++streamed_gemms;
        EXPECT_EQ(from.kind, OpKind::ALL_TO_ALL);
        EXPECT_TRUE(from.tags.phase == A2aPhase::DISPATCH || from.tags.phase == A2aPhase::COMBINE_GRAD);
      } else {
        ASSERT_EQ(op.kind, OpKind::ALL_TO_ALL);
        EXPECT_TRUE(op.tags.phase == A2aPhase::COMBINE || op.tags.phase == A2aPhase::DISPATCH_GRAD);
        EXPECT_EQ(from.kind, OpKind::EXPERT_GEMM);
        EXPECT_EQ(from.tags.stage, 1);
        ++streaming_a2as;
      }
    }
  }
  EXPECT_GT(streamed_gemms, 0);
  EXPECT_GT(streaming_a2as, 0);
  // The weight gradient (cuBLAS) starts after the fused launches, whose transfer blocks end with
  // them: every SM, priced as `none`'s, and no cuBLAS SM target in the real run.
  std::map<std::int32_t, double> none_wgrad_s;
  for (const Op& op : none.plan.ops())
    if (op.kind == OpKind::EXPERT_WGRAD) none_wgrad_s[op.gpu] = compute_time_s(none.plan, op, plans.cost_model);
  int wgrads = 0;
  for (const Op& op : fused.plan.ops())
    if (op.kind == OpKind::EXPERT_WGRAD) {
      ++wgrads;
      EXPECT_EQ(op.compute_sm_fraction, 1.0);
      EXPECT_DOUBLE_EQ(compute_time_s(fused.plan, op, plans.cost_model), none_wgrad_s.at(op.gpu)) << op.gpu;
    }
  EXPECT_EQ(wgrads, fused.plan.header().num_gpus);
  EXPECT_EQ(cublas_expert_sm_fraction(fused.plan), 1.0);
  for (const std::string& engine : engines_under_test()) {
    const Timeline timeline = make_executor(engine)->run(fused.plan, plans.topology, plans.cost_model);
    for (const Op& op : fused.plan.ops()) {
      for (std::int32_t dep : fused.plan.deps(op.id)) EXPECT_GE(timeline.ops[op.id].start_s, timeline.ops[dep].end_s - 1e-12);
      for (std::int32_t producer : fused.plan.streaming_deps(op.id)) {
        EXPECT_GE(timeline.ops[op.id].start_s, timeline.ops[producer].start_s - 1e-12) << engine;
        EXPECT_GE(timeline.ops[op.id].end_s, timeline.ops[producer].end_s - 1e-12) << engine;
      }
    }
  }
}

TEST(Streaming, TheFusedPolicyNeedsAnEvenBlockCountBelowTheSms) {
  const testing::ScenarioPlans plans(NODE_LAYER, "node-layer.yaml");
  EXPECT_THROW(parse_policy(PolicyFamily::PARTITION, "comet:3"), std::invalid_argument);  // half a cluster
  EXPECT_THROW(parse_policy(PolicyFamily::PARTITION, "comet:0"), std::invalid_argument);
  for (const char* bad : {"comet:132", "comet:200"}) EXPECT_THROW(layer_plan(plans, bad), InputError) << bad;  // an H100 has 132 SMs
  EXPECT_EQ(layer_plan(plans, "comet:130").plan.header().transfer_blocks, 130);
}

}  // namespace
}  // namespace comet
