#include "calibration_runs.hpp"

#include <fmt/format.h>

#include <memory>

#include "fused_expert_ops.hpp"
#include "op_costs.hpp"
#include "path_costs.hpp"
#include "token_layout.hpp"
#include "topology_builders.hpp"

namespace comet {
namespace {

// One scenario at one token load: its Plans (one per chunk count), their layouts, measured.
struct LoadRuns : CalibrationLoad {
  using CalibrationLoad::CalibrationLoad;
  std::vector<std::unique_ptr<BuiltPlan>> plans;
  std::vector<std::unique_ptr<TokenLayout>> layouts;
  std::vector<RealMeasurement> measured;
  std::vector<std::string> partitions;
};

// The partitions measured at each load of `load`'s shape: the chunked ones, and comet:B where the
// fused kernels run (else said once through `progress`).
std::vector<std::string> calibration_partitions(const CalibrationRequest& r, const CalibrationLoad& load, bool& said) {
  std::vector<std::string> partitions;
  for (int k : r.chunk_counts) partitions.push_back(chunked_partition(k));
  if (r.fused_blocks.empty()) return partitions;
  std::string why;
  if (load.topology.num_gpus() != 1)
    why = "between GPUs the executor does not order fused launches yet (docs/fused-kernels.md)";
  else
    FusedExpertOps::available(&why);
  if (why.empty())
    for (int blocks : r.fused_blocks) partitions.push_back(fmt::format("comet:{}", blocks));
  else if (!said && r.progress) {
    r.progress(fmt::format("comet:B (the fused kernels) not measured: {}", why));
    said = true;
  }
  return partitions;
}

}  // namespace

CalibrationResult run_calibration(const CalibrationRequest& r) {
  bool said_no_fused = false;
  std::vector<std::unique_ptr<LoadRuns>> loads;
  std::vector<RecordedRun> recorded;
  for (std::size_t b = 0; b < r.scenarios.size(); ++b) {
    const Scenario& base = r.scenarios[b];
    for (std::int64_t tokens : r.tokens_per_gpu) {
      auto runs = std::make_unique<LoadRuns>(calibration_scenario(base, tokens));
      LoadRuns& l = *runs;
      check_fits_machine(base.origin, l.topology.num_gpus(), l.scenario.expert_parallel, r.options.mpi);
      const MoeModel& m = l.scenario.model;
      std::vector<RealJob> jobs;
      l.partitions = calibration_partitions(r, l, said_no_fused);
      for (const std::string& partition : l.partitions) {
        l.plans.push_back(std::make_unique<BuiltPlan>(calibration_plan(l.scenario, l.topology, l.costs, r.base, partition)));
        l.layouts.push_back(std::make_unique<TokenLayout>(l.plans.back()->chunks.front().parts, l.plans.back()->placement, m.top_k,
                                                          r.options.seed));
        // The cuBLAS SM share a validation of the same Plan runs with (1 for every partition calibrated today).
        jobs.push_back({partition, &l.plans.back()->plan, l.layouts.back().get(), cublas_expert_sm_fraction(l.plans.back()->plan)});
      }
      if (r.progress)
        r.progress(fmt::format("measuring {} ({} H{} F{}, {} experts) at {} tokens/GPU: {} Plans", base.name, m.preset, m.hidden,
                               m.expert_ffn, m.experts, tokens, jobs.size()));
      l.measured = run_on_gpus(jobs, LayerDims{m.hidden, m.expert_ffn, m.top_k, m.experts}, l.topology.num_gpus(), r.options);
      if (r.options.mpi && !r.options.mpi->root()) continue;  // rank 0 records and fits
      for (std::size_t i = 0; i < l.measured.size(); ++i)
        recorded.push_back({b < r.scenario_texts.size() ? r.scenario_texts[b] : "", base.origin, tokens, l.partitions[i],
                            l.plans[i]->plan.stable_hash(), l.measured[i].timeline});
      loads.push_back(std::move(runs));
    }
  }
  if (r.options.mpi && !r.options.mpi->root()) return {};
  std::vector<MeasuredRun> measured;
  double gpu_link_Bps = 0.0;
  for (const auto& l : loads) {
    for (std::size_t i = 0; i < l->plans.size() && i < l->measured.size(); ++i)
      measured.push_back({&l->plans[i]->plan, &l->measured[i].timeline});
    if (l->topology.num_gpus() > 1) gpu_link_Bps = l->scenario.topology.node.gpu_link_Bps;
  }
  return {fit_cost_model(measured, r.base, gpu_link_Bps), std::move(recorded)};
}

}  // namespace comet
