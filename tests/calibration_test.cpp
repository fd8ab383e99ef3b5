// The calibration loop's host half: the cost model's measured figures, calibration files, the
// fit (recovering known parameters from synthetic measurements) and predicted-vs-measured.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "analytical_engine.hpp"
#include "calibration_file.hpp"
#include "calibration_fit.hpp"
#include "op_costs.hpp"
#include "prediction.hpp"
#include "scenario_plans.hpp"

namespace comet {
namespace {

// One GPU, every expert local: the shapes `comet calibrate` measures, at small dims.
std::string one_gpu_scenario(int tokens) {
  return "name: one-gpu\n"
         "topology: {name: node-1, kind: node, node: {gpus: 1, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 0, gpu: h200}}\n"
         "model: {hidden: 1024, expert_ffn: 2048, experts: 16, top_k: 2, layers: 2, moe_layers: 2, heads: 8, kv_heads: 8, head_dim: 128}\n"
         "parallelism: {expert_parallel: 1}\n"
         "workload: {tokens_per_gpu: " + std::to_string(tokens) + ", steps: 1, seed: 5, routing: {kind: uniform}}\n"
         "policies: {placement: [contiguous], partition: [none], a2a: [direct]}\n";
}

// A model with every measured figure set to known values.
CostModel known_model() {
  CostModel m = CostModel::defaults_for("h200");
  m.kernel_costs[kernel_cost_index(OpKind::PERMUTE, Direction::FORWARD)] = LinearCost{6e-6, 1.8e12};
  m.kernel_costs[kernel_cost_index(OpKind::PERMUTE, Direction::BACKWARD)] = LinearCost{9e-6, 1.1e12};
  m.kernel_costs[kernel_cost_index(OpKind::UNPERMUTE, Direction::FORWARD)] = LinearCost{8e-6, 1.2e12};
  m.kernel_costs[kernel_cost_index(OpKind::UNPERMUTE, Direction::BACKWARD)] = LinearCost{5e-6, 1.7e12};
  m.kernel_costs[kernel_cost_index(OpKind::GATE, Direction::FORWARD)] = LinearCost{12e-6, 2.0e14};
  m.kernel_costs[kernel_cost_index(OpKind::GATE, Direction::BACKWARD)] = LinearCost{15e-6, 2.5e14};
  m.kernel_costs[kernel_cost_index(OpKind::NON_MOE, Direction::FORWARD)] = LinearCost{20e-6, 6.1e14};
  m.kernel_costs[kernel_cost_index(OpKind::NON_MOE, Direction::BACKWARD)] = LinearCost{30e-6, 6.4e14};
  ShapeCosts table{1024, 2048, {}, {}};
  table.seconds_by_m[0] = {{8, 2.2e-5}, {64, 3.1e-5}, {512, 1.3e-4}, {4096, 8.9e-4}};
  table.seconds_by_m[1] = {{8, 4.0e-5}, {64, 5.5e-5}, {512, 2.5e-4}, {4096, 1.8e-3}};
  table.seconds_by_m[2] = {{8, 6.0e-5}, {64, 7.0e-5}, {512, 2.9e-4}, {4096, 1.9e-3}};
  table.kernels = m.kernel_costs;  // the fit sets both: the shape's own and the one over every shape
  m.shapes.push_back(table);
  return m;
}

struct SyntheticRuns {
  std::vector<std::unique_ptr<testing::ScenarioPlans>> scenarios;
  std::vector<BuiltPlan> plans;
  std::vector<Timeline> timelines;
  std::vector<MeasuredRun> runs() const {
    std::vector<MeasuredRun> out;
    for (std::size_t i = 0; i < plans.size(); ++i) out.push_back({&plans[i].plan, &timelines[i]});
    return out;
  }
};

// Calibration Plans as `comet calibrate` builds them, each op "measured" as the known model's
// time times (1 + noise), noise uniform in [-noise, noise].
SyntheticRuns synthetic_runs(const CostModel& known, double noise) {
  SyntheticRuns s;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> jitter(-noise, noise);
  s.plans.reserve(12);
  for (int tokens : {512, 2048, 8192}) {
    s.scenarios.push_back(std::make_unique<testing::ScenarioPlans>(one_gpu_scenario(tokens), "one-gpu.yaml"));
    for (const char* partition : {"none", "fixed:2", "fixed:4", "fixed:8"}) {
      s.plans.push_back(s.scenarios.back()->plan("contiguous", partition));
      Timeline t = timeline_for(s.plans.back().plan, "synthetic");
      double now = 0.0;  // one op after the other: each ran alone, as the fit requires of kernel samples
      for (const Op& op : s.plans.back().plan.ops()) {
        t.ops[op.id].start_s = now;
        now = t.ops[op.id].end_s = now + compute_time_s(s.plans.back().plan, op, known) * (1.0 + jitter(rng));
      }
      s.timelines.push_back(std::move(t));
    }
  }
  return s;
}

TEST(CostModel, LogLogInterpolationHasClosedForms) {
  const MeasuredCurve curve{{16, 1e-5}, {64, 4e-5}, {256, 1e-4}};
  EXPECT_DOUBLE_EQ(interpolate_log_log(curve, 8), 1e-5);                // below: the first entry
  EXPECT_NEAR(interpolate_log_log(curve, 32), std::sqrt(1e-5 * 4e-5), 1e-18);  // geometric midpoint
  EXPECT_DOUBLE_EQ(interpolate_log_log(curve, 64), 4e-5);
  EXPECT_DOUBLE_EQ(interpolate_log_log(curve, 1024), 4e-4);             // above: proportional to M
}

TEST(CostModel, ExpertTimeNeverBeatsReadingTheWeights) {
  CostModel m = known_model();
  // A table entry faster than HBM allows (3 x 1024 x 2048 bf16 weights = 12.6 MB: 2.6 us at 4.8 TB/s).
  m.shapes[0].seconds_by_m[0] = {{8, 1e-7}, {4096, 1e-3}};
  const double floor = (3.0 * 1024 * 2048 * 2 + 8 * (2.0 * 1024 + 3.0 * 2048) * 2) / m.hbm_Bps;
  EXPECT_DOUBLE_EQ(m.expert_time_s(ExpertPass::FORWARD, 8, 1024, 2048), floor);
  // Without a table: the GEMMs' datasheet time, which grows with N and K, not with M alone.
  EXPECT_GT(m.expert_time_s(ExpertPass::FORWARD, 256, 4096, 14336), 5.0 * m.expert_time_s(ExpertPass::FORWARD, 256, 1024, 2048));
  EXPECT_EQ(m.expert_time_s(ExpertPass::FORWARD, 0, 1024, 2048), 0.0);
}

TEST(CalibrationFit, LinearCostIsExactOnExactPoints) {
  std::vector<std::pair<double, double>> points;
  for (double x : {1e6, 1e7, 1e8, 1e9}) points.emplace_back(x, 3e-6 + x / 2.5e12);
  const LinearCost c = fit_linear_cost(points);
  EXPECT_NEAR(c.overhead_s, 3e-6, 1e-12);
  EXPECT_NEAR(c.rate / 2.5e12, 1.0, 1e-9);
  // One amount only: through the origin.
  const LinearCost single = fit_linear_cost({{1e8, 1e-4}, {1e8, 1e-4}});
  EXPECT_EQ(single.overhead_s, 0.0);
  EXPECT_NEAR(single.rate, 1e12, 1.0);
}

// Runs of `partition` at each of `s`'s loads, every op timed one after the other at `known`'s
// price (each ran alone), appended to `s`.
void add_sequential_runs(SyntheticRuns& s, const char* partition, const CostModel& known) {
  s.plans.reserve(s.plans.size() + s.scenarios.size());
  for (const auto& scenario : s.scenarios) {
    s.plans.push_back(scenario->plan("contiguous", partition));
    const Plan& plan = s.plans.back().plan;
    Timeline t = timeline_for(plan, "synthetic");
    double now = 0.0;
    for (const Op& op : plan.ops()) {
      t.ops[op.id].start_s = now;
      now = t.ops[op.id].end_s = now + compute_time_s(plan, op, known);
    }
    s.timelines.push_back(std::move(t));
  }
}

// The chunked Plans' memory kernels moved beside the expert GEMMs of other chunks, each such GEMM
// `interference` x the kernel's time longer (and everything after it later): what a GPU measures
// when the two share it (compute_streams.hpp).
void add_interference(SyntheticRuns& s, double interference) {
  for (std::size_t i = 0; i < s.plans.size(); ++i) {
    const Plan& plan = s.plans[i].plan;
    Timeline& t = s.timelines[i];
    for (const Op& gemm : plan.ops()) {
      if (gemm.kind != OpKind::EXPERT_GEMM || gemm.tags.chunk == 0) continue;
      // The previous chunk's unpermute (forward) or permute (backward) of the same direction.
      const auto partner = std::find_if(plan.ops().begin(), plan.ops().end(), [&](const Op& op) {
        return op.tags.chunk == gemm.tags.chunk - 1 && op.tags.direction == gemm.tags.direction &&
               op.kind == (gemm.tags.direction == Direction::FORWARD ? OpKind::UNPERMUTE : OpKind::PERMUTE);
      });
      if (partner == plan.ops().end()) continue;
      TimelineOp& m = t.ops[partner->id];
      TimelineOp& g = t.ops[gemm.id];
      const double kernel = m.end_s - m.start_s, extra = interference * kernel, old_end = g.end_s;
      for (TimelineOp& later : t.ops)
        if (later.start_s >= old_end) later.start_s += extra, later.end_s += extra;
      g.end_s += extra;
      m.start_s = g.start_s;
      m.end_s = g.start_s + kernel;
    }
  }
}

TEST(CalibrationFit, RecoversKnownParametersFromNoisyMeasurements) {
  const CostModel known = known_model();
  const SyntheticRuns s = synthetic_runs(known, 0.002);
  const CalibrationFit fit = fit_cost_model(s.runs(), CostModel::defaults_for("h200"), 0.0);
  for (OpKind kind : {OpKind::PERMUTE, OpKind::UNPERMUTE, OpKind::GATE, OpKind::NON_MOE})
    for (Direction d : {Direction::FORWARD, Direction::BACKWARD}) {
      const auto& want = known.kernel_costs[kernel_cost_index(kind, d)];
      for (const auto* got : {&fit.model.kernel_costs[kernel_cost_index(kind, d)], &fit.model.shape(1024, 2048)->kernels[kernel_cost_index(kind, d)]}) {
        ASSERT_TRUE(got->has_value()) << to_string(kind) << " " << to_string(d);
        EXPECT_NEAR((*got)->rate / want->rate, 1.0, 0.01) << to_string(kind) << " " << to_string(d);
        EXPECT_NEAR((*got)->overhead_s / want->overhead_s, 1.0, 0.01) << to_string(kind) << " " << to_string(d);
      }
    }
  const ShapeCosts* table = fit.model.shape(1024, 2048);
  ASSERT_NE(table, nullptr);
  for (std::size_t p = 0; p < NUM_EXPERT_PASSES; ++p) {
    // Forward and data gradient: M = 512 x 2 / 16 / K for K in 1, 2, 4, 8 and the three loads;
    // the weight gradient once per layer: three loads.
    EXPECT_GE(table->seconds_by_m[p].size(), p == 2 ? 3u : 8u) << p;
    for (const auto& [m, seconds] : table->seconds_by_m[p])
      EXPECT_NEAR(seconds / known.expert_time_s(static_cast<ExpertPass>(p), m, 1024, 2048), 1.0, 0.01) << p << " M " << m;
  }
  ASSERT_FALSE(fit.quality.empty());
  for (const FitQuality& q : fit.quality) EXPECT_LT(q.median_residual, 0.01) << q.table;
}

// `fine`'s expert GEMMs run on a share of the SMs (the rest left to NCCL), which the engines
// price as the table's time over that share: the fit takes their measurements back to the tables'
// every-SM unit, so the tables come out as from the policies on every SM.
TEST(CalibrationFit, TakesOpsOnAShareOfTheSmsBackToTheTablesUnit) {
  const CostModel known = known_model();
  SyntheticRuns s = synthetic_runs(known, 0.002);
  add_sequential_runs(s, "fine", known);
  ASSERT_LT(cublas_expert_sm_fraction(s.plans.back().plan), 0.9);  // a share the 1% tolerance below would see
  const CalibrationFit fit = fit_cost_model(s.runs(), CostModel::defaults_for("h200"), 0.0);
  const ShapeCosts* table = fit.model.shape(1024, 2048);
  ASSERT_NE(table, nullptr);
  for (std::size_t p = 0; p < NUM_EXPERT_PASSES; ++p)
    for (const auto& [m, seconds] : table->seconds_by_m[p])
      EXPECT_NEAR(seconds / known.expert_time_s(static_cast<ExpertPass>(p), m, 1024, 2048), 1.0, 0.01) << p << " M " << m;
  for (const FitQuality& q : fit.quality) EXPECT_LT(q.median_residual, 0.01) << q.table;
}

// Memory kernels beside expert GEMMs at a known rate (the analytical engine's timing under a
// known model): the fit finds the rate from their spans. Alone, they keep the base model's 1.
TEST(CalibrationFit, FindsTheRateMemoryKernelsRunAtBesideComputeWork) {
  CostModel known = known_model();
  known.memory_kernel_interference = 0.8;
  known.memory_kernel_rate_beside_compute = 0.3;
  SyntheticRuns s;
  s.plans.reserve(12);
  for (int tokens : {512, 2048, 8192}) {
    s.scenarios.push_back(std::make_unique<testing::ScenarioPlans>(one_gpu_scenario(tokens), "one-gpu.yaml"));
    for (const char* partition : {"none", "fixed:2", "fixed:4", "fixed:8"}) {
      s.plans.push_back(s.scenarios.back()->plan("contiguous", partition));
      s.timelines.push_back(AnalyticalEngine().run(s.plans.back().plan, s.scenarios.back()->topology, known));
    }
  }
  int beside = 0;  // the case must have memory kernels stretched beside GEMMs
  for (std::size_t i = 0; i < s.plans.size(); ++i)
    for (const Op& op : s.plans[i].plan.ops())
      if (op.kind == OpKind::PERMUTE || op.kind == OpKind::UNPERMUTE)
        beside += s.timelines[i].ops[op.id].end_s - s.timelines[i].ops[op.id].start_s > 1.5 * compute_time_s(s.plans[i].plan, op, known);
  ASSERT_GT(beside, 10);
  const CalibrationFit fit = fit_cost_model(s.runs(), CostModel::defaults_for("h200"), 0.0);
  EXPECT_NEAR(fit.model.memory_kernel_rate_beside_compute, 0.3, 0.01);
  EXPECT_EQ(fit_cost_model(synthetic_runs(known_model(), 0.0).runs(), CostModel::defaults_for("h200"), 0.0)
                .model.memory_kernel_rate_beside_compute,
            1.0);
}

// Expert GEMMs slowed by memory kernels beside them: the fit finds the interference and keeps it
// out of the expert tables (the 1-chunk Plans, where nothing runs beside the GEMMs, anchor them).
TEST(CalibrationFit, SeparatesMemoryKernelInterferenceFromTheExpertTables) {
  const CostModel known = known_model();
  // Noise 0.1%: the interference is a small share of a GEMM's time (a kernel is ~5% of it), so
  // a GEMM's noise weighs ~20x more on it than on the tables.
  SyntheticRuns s = synthetic_runs(known, 0.001);
  add_interference(s, 0.8);
  const CalibrationFit fit = fit_cost_model(s.runs(), CostModel::defaults_for("h200"), 0.0);
  EXPECT_NEAR(fit.model.memory_kernel_interference, 0.8, 0.008);
  const ShapeCosts* table = fit.model.shape(1024, 2048);
  ASSERT_NE(table, nullptr);
  for (std::size_t p = 0; p < NUM_EXPERT_PASSES; ++p)
    for (const auto& [m, seconds] : table->seconds_by_m[p])
      EXPECT_NEAR(seconds / known.expert_time_s(static_cast<ExpertPass>(p), m, 1024, 2048), 1.0, 0.01) << p << " M " << m;
  // Without interference in the measurements there is none in the fit.
  EXPECT_NEAR(fit_cost_model(synthetic_runs(known, 0.002).runs(), CostModel::defaults_for("h200"), 0.0).model.memory_kernel_interference,
              0.0, 0.005);
}

// A memory kernel measured beside a GEMM (another stream) waits for SMs: its time says nothing of
// its own cost, so the kernel fit leaves it out.
TEST(CalibrationFit, IgnoresKernelsThatRanBesideAnotherOp) {
  const CostModel known = known_model();
  SyntheticRuns s = synthetic_runs(known, 0.0);
  int slowed = 0;
  for (std::size_t i = 0; i < s.plans.size(); ++i)
    for (const Op& op : s.plans[i].plan.ops()) {
      if (op.kind != OpKind::PERMUTE || op.id == 0) continue;
      TimelineOp& t = s.timelines[i].ops[op.id];  // start with the op before it, three times as long
      const double d = t.end_s - t.start_s;
      t.start_s = s.timelines[i].ops[op.id - 1].start_s;
      t.end_s = t.start_s + 3.0 * d;
      ++slowed;
      break;  // one per Plan: the others still ran alone
    }
  ASSERT_GT(slowed, 0);
  const CalibrationFit fit = fit_cost_model(s.runs(), CostModel::defaults_for("h200"), 0.0);
  const std::size_t i = kernel_cost_index(OpKind::PERMUTE, Direction::FORWARD);
  ASSERT_TRUE(fit.model.kernel_costs[i].has_value());
  EXPECT_NEAR(fit.model.kernel_costs[i]->rate / known.kernel_costs[i]->rate, 1.0, 1e-6);
}

// comet:B's fused launches measured against what the tables price their ops at on the same SMs,
// by known factors per B, launch and M: the fit finds them (ShapeCosts::fused) and keeps the fused
// ops out of the tables, which come out as without them; the scaled model prices fused ops only.
TEST(CalibrationFit, FitsTheFusedKernelsScalesApartFromTheTables) {
  CostModel known = known_model();
  SyntheticRuns s = synthetic_runs(known, 0.002);
  // Mean rows per expert of the 1-chunk Plans: 64, 256 and 1024 (the three loads, top-2 of 16).
  known.shapes[0].fused = {{8, {MeasuredCurve{{64, 1.4}, {1024, 1.05}}, MeasuredCurve{{64, 1.2}},
                                MeasuredCurve{{64, 1.3}, {1024, 1.5}}, MeasuredCurve{}}},
                           {16, {MeasuredCurve{{64, 0.9}}, MeasuredCurve{}, MeasuredCurve{}, MeasuredCurve{}}}};
  for (const char* partition : {"comet:8", "comet:16"}) add_sequential_runs(s, partition, known);
  const CalibrationFit fit = fit_cost_model(s.runs(), CostModel::defaults_for("h200"), 0.0);
  const ShapeCosts* table = fit.model.shape(1024, 2048);
  ASSERT_NE(table, nullptr);
  ASSERT_EQ(table->fused.size(), 2u);
  for (const FusedScales& f : table->fused)
    for (std::size_t l = 0; l < NUM_FUSED_LAUNCHES; ++l) {
      ASSERT_EQ(f.by_m[l].size(), 3u) << f.blocks << " " << fused_launch_name(l);
      for (const auto& [m, scale] : f.by_m[l])
        EXPECT_NEAR(scale / known.fused_scale(f.blocks, l, m, 1024, 2048), 1.0, 0.01) << f.blocks << " " << fused_launch_name(l) << " M " << m;
    }
  EXPECT_EQ(table->fused[0].blocks, 8);
  EXPECT_EQ(table->fused[1].blocks, 16);
  for (std::size_t p = 0; p < NUM_EXPERT_PASSES; ++p)
    for (const auto& [m, seconds] : table->seconds_by_m[p])
      EXPECT_NEAR(seconds / known.expert_time_s(static_cast<ExpertPass>(p), m, 1024, 2048), 1.0, 0.01) << p << " M " << m;
  bool fused_table = false;
  for (const FitQuality& q : fit.quality) {
    EXPECT_LT(q.median_residual, 0.01) << q.table;
    fused_table = fused_table || q.table.rfind("fused ", 0) == 0;
  }
  EXPECT_TRUE(fused_table);
  // Interpolated linearly in log M, the nearest outside; the nearest measured B (ties: the smaller).
  const std::size_t gate_up = fused_launch(ExpertPass::FORWARD, 0);
  EXPECT_NEAR(known.fused_scale(8, gate_up, 256, 1024, 2048), 1.4 + 0.5 * (1.05 - 1.4), 1e-12);
  EXPECT_DOUBLE_EQ(known.fused_scale(8, gate_up, 8, 1024, 2048), 1.4);
  EXPECT_DOUBLE_EQ(known.fused_scale(8, gate_up, 1e5, 1024, 2048), 1.05);
  EXPECT_DOUBLE_EQ(known.fused_scale(12, gate_up, 64, 1024, 2048), 1.4);
  EXPECT_DOUBLE_EQ(known.fused_scale(14, gate_up, 64, 1024, 2048), 0.9);
  EXPECT_DOUBLE_EQ(known.fused_scale(16, fused_launch(ExpertPass::DATA_GRADIENT, 1), 64, 1024, 2048), 1.0);
  EXPECT_DOUBLE_EQ(known.fused_scale(8, gate_up, 64, 4096, 14336), 1.0) << "a shape not measured";
  // The scales apply to fused launches only.
  CostModel unscaled = fit.model;
  unscaled.shapes[0].fused.clear();
  for (const BuiltPlan* b : {&s.plans.back(), &s.plans.front()})
    for (const Op& op : b->plan.ops()) {
      const double unscaled_s = compute_time_s(b->plan, op, unscaled);
      if (!(unscaled_s > 0.0)) continue;
      const double ratio = compute_time_s(b->plan, op, fit.model) / unscaled_s;
      if (fused_gemm(b->plan, op)) {
        double rows = 0.0;
        for (const ExpertWork& w : b->plan.work(op)) rows += static_cast<double>(w.tokens);
        EXPECT_NEAR(ratio, fit.model.fused_scale(16, fused_launch(expert_pass(op), op.tags.stage), rows / op.num_work, 1024, 2048), 1e-12);
      } else {
        EXPECT_DOUBLE_EQ(ratio, 1.0) << op.id;
      }
    }
}

TEST(CalibrationFile, RoundTripsEveryFigure) {
  CostModel m = known_model();
  m.source.provenance = {{"gpu_name", "NVIDIA H200"}, {"date", "2026-12-02T10:00:00Z"}, {"nccl_env", "NCCL_NVLS_ENABLE=0"}};
  m.fit_quality = {{"expert forward H1024 F2048", 9, 0.004, 0.02}};
  m.link_efficiency[0] = 0.6123456789;
  m.fused_block_Bps = 31.25e9;
  m.memory_kernel_rate_beside_compute = 0.29931217475510985;
  m.shapes[0].fused = {{8, {MeasuredCurve{{64, 1.4123456789}, {1024, 1.05}}, MeasuredCurve{}, MeasuredCurve{{256, 1.3}}, MeasuredCurve{}}},
                       {16, {MeasuredCurve{}, MeasuredCurve{{64, 0.9}}, MeasuredCurve{}, MeasuredCurve{}}}};
  const std::string text = cost_model_yaml(m);
  const CostModel back = load_cost_model_text(text, "round-trip.yaml");
  EXPECT_EQ(cost_model_yaml(back), text);
  EXPECT_EQ(back.memory_kernel_rate_beside_compute, m.memory_kernel_rate_beside_compute);
  for (std::size_t i = 0; i < m.kernel_costs.size(); ++i) {
    ASSERT_EQ(back.kernel_costs[i].has_value(), m.kernel_costs[i].has_value()) << i;
    if (m.kernel_costs[i]) {
      EXPECT_EQ(back.kernel_costs[i]->rate, m.kernel_costs[i]->rate) << i;
      EXPECT_EQ(back.kernel_costs[i]->overhead_s, m.kernel_costs[i]->overhead_s) << i;
    }
  }
  ASSERT_EQ(back.shapes.size(), 1u);
  EXPECT_EQ(back.shapes[0].seconds_by_m, m.shapes[0].seconds_by_m);
  EXPECT_EQ(back.shapes[0].kernels, m.shapes[0].kernels);
  EXPECT_EQ(back.shapes[0].fused, m.shapes[0].fused);
  EXPECT_EQ(back.link_efficiency, m.link_efficiency);
  EXPECT_EQ(back.hbm_Bps, m.hbm_Bps);
  EXPECT_EQ(back.fused_block_Bps, 31.25e9);
  EXPECT_EQ(back.source.provenance, m.source.provenance);
  EXPECT_EQ(back.description(), "h200, calibrated 2026-12-02T10:00:00Z on NVIDIA H200 (round-trip.yaml)");
}

// Each bad file names the file, the line, the key path and the value.
TEST(CalibrationFile, BadFilesNameFileLineKeyAndValue) {
  const std::string head = "gpu: h200\n";
  struct Case {
    std::string body, expected;
  } cases[] = {
      {"hbm_bandwith: 4TB/s\n", "bad.yaml:2:1: 'hbm_bandwith'"},
      {"hbm_bandwidth: -4TB/s\n", "bad.yaml:2:16: 'hbm_bandwidth': value '-4TB/s'"},
      {"shapes:\n  - {hidden: 64, ffn: 128, forward: [[64, 1e-5], [32, 2e-5]]}\n",
       "bad.yaml:3:51: 'shapes[0].forward[1][0]': value '32': M values in increasing order"},
      {"shapes:\n  - {hidden: 64, ffn: 128, kernels: {gate_forward: {overhead: 1us}}}\n", "'shapes[0].kernels.gate_forward.rate': missing required key"},
      {"kernels:\n  permute_sideways: {overhead: 1us, rate: 1TB/s}\n", "bad.yaml:3:3: 'kernels.permute_sideways'"},
      {"kernels:\n  permute_forward: {overhead: 1us, rate: -1TB/s}\n", "'kernels.permute_forward.rate': value '-1TB/s'"},
      {"provenance: {gpu_name: x, colour: red}\n", "'provenance.colour'"},
      {"fused_block_bandwidth: 25GB\n", "bad.yaml:2:24: 'fused_block_bandwidth': value '25GB'"},
      {"memory_kernel_rate_beside_compute: 0\n", "bad.yaml:2:36: 'memory_kernel_rate_beside_compute': value '0'"},
      {"memory_kernel_rate_beside_compute: 1.5\n", "bad.yaml:2:36: 'memory_kernel_rate_beside_compute': value '1.5'"},
      {"kernels:\n  gate_forward: {overhead: 1us, rate: 1e14}\n  gate_forward: {overhead: 2us, rate: 1e14}\n",
       "bad.yaml:4:3: 'kernels': value 'gate_forward': each op kind once"},
      {"shapes:\n  - {hidden: 64, ffn: 128, fused_scale: [{blocks: 8, forward_up: [[64, 1.2]]}]}\n",
       "'shapes[0].fused_scale[0].forward_up'"},
      {"shapes:\n  - {hidden: 64, ffn: 128, fused_scale: [{blocks: 8, forward_down: [[64, 0]]}]}\n",
       "'shapes[0].fused_scale[0].forward_down[0][1]': value '0'"},
      {"shapes:\n  - {hidden: 64, ffn: 128, fused_scale: [{blocks: 16}, {blocks: 8}]}\n",
       "'shapes[0].fused_scale[1].blocks': value '8': blocks in increasing order"},
  };
  for (const Case& c : cases) {
    try {
      load_cost_model_text(head + c.body, "bad.yaml");
      ADD_FAILURE() << "accepted: " << c.body;
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find(c.expected), std::string::npos) << error.what();
    }
  }
}

// The engines run a GPU's ops on the streams the real executor uses: ops of one stream never
// overlap, and a chunk's permute or unpermute runs beside another chunk's GEMMs.
TEST(Engines, MemoryOpsRunBesideGemmsOnTheirOwnStreams) {
  const testing::ScenarioPlans s(one_gpu_scenario(2048), "one-gpu.yaml");
  const BuiltPlan built = s.plan("contiguous", "fixed:4");
  const Timeline t = AnalyticalEngine().run(built.plan, s.topology, known_model());
  bool beside = false;
  for (const Op& a : built.plan.ops())
    for (const Op& b : built.plan.ops()) {
      if (a.id >= b.id) continue;
      const bool overlap = t.ops[a.id].start_s < t.ops[b.id].end_s - 1e-15 && t.ops[b.id].start_s < t.ops[a.id].end_s - 1e-15;
      if (stream_of(a) == stream_of(b)) {
        EXPECT_FALSE(overlap) << a.id << " and " << b.id << " share a stream";
      } else if (overlap && (a.kind == OpKind::EXPERT_GEMM || b.kind == OpKind::EXPERT_GEMM)) {
        beside = true;
      }
    }
  EXPECT_TRUE(beside) << "no permute or unpermute ran beside a GEMM";
}

TEST(Prediction, JoinsOnOpIdsPerClass) {
  const testing::ScenarioPlans s(one_gpu_scenario(512), "one-gpu.yaml");
  const BuiltPlan built = s.plan("contiguous", "fixed:2");
  Timeline measured = timeline_for(built.plan, "real"), predicted = timeline_for(built.plan, "analytical");
  double start = 0.0;
  for (const Op& op : built.plan.ops()) {  // measured: every op 1 ms in series; predicted: 10% longer each
    measured.ops[op.id].start_s = start, measured.ops[op.id].end_s = start + 1e-3;
    predicted.ops[op.id].start_s = start * 1.1, predicted.ops[op.id].end_s = (start + 1e-3) * 1.1;
    start += 1e-3;
  }
  const PredictionComparison c = compare_timelines(built.plan, predicted, measured);
  EXPECT_NEAR(c.layer.error(), 0.1, 1e-12);
  int ops = 0;
  for (std::size_t k = 0; k < NUM_OP_CLASSES; ++k) {
    ops += c.ops_in_class[k];
    if (c.ops_in_class[k]) {
      EXPECT_NEAR(c.by_class[k].error(), 0.1, 1e-12) << k;
    }
    EXPECT_NEAR(c.by_class[k].measured_s, c.ops_in_class[k] * 1e-3, 1e-12) << k;
  }
  EXPECT_EQ(ops, static_cast<int>(built.plan.ops().size()));
  EXPECT_EQ(c.ops_in_class[static_cast<std::size_t>(OpClass::ALL_TO_ALL)], 0);  // one GPU: no all-to-all
  const ErrorSummary summary = summarize_errors({0.02, -0.05, std::nan(""), 0.01});
  EXPECT_EQ(summary.count, 3);
  EXPECT_DOUBLE_EQ(summary.median_abs, 0.02);
  EXPECT_DOUBLE_EQ(summary.max_abs, 0.05);
}

}  // namespace
}  // namespace comet
