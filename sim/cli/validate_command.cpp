#include "validate_command.hpp"

#include "real_run_options.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "atomic_file.hpp"
#include "calibration_file.hpp"
#include "gpu_error.hpp"
#include "input_error.hpp"
#include "numerics.hpp"
#include "partition_policies.hpp"
#include "prediction_table.hpp"
#include "provenance.hpp"
#include "scenario_argument.hpp"
#include "topology_builders.hpp"
#include "validation.hpp"

namespace comet {
namespace {

FaultInjection parse_fault(const std::string& text) {
  FaultInjection fault;
  if (text.empty()) return fault;
  const std::string prefix = "silent-rank:";
  if (text.rfind(prefix, 0) == 0) {
    const char* first = text.data() + prefix.size();
    const char* end = text.data() + text.size();
    int rank = -1;
    const auto [last, error] = std::from_chars(first, end, rank);
    if (error == std::errc() && last == end && first != end && rank >= 0) {
      fault.silent_rank = rank;
      return fault;
    }
  }
  throw InputError({"<command line>", 0, 0}, "--inject-fault", text,
                   "silent-rank:R, R a rank number (rank R skips its all-to-alls; comet:B: its rows are never pulled)");
}

std::string error_text(double error) { return std::isfinite(error) ? fmt::format("{:.2e}", error) : "NaN"; }

void print_table(const ValidationRequest& r, const std::vector<PolicyReport>& reports) {
  fmt::print("# comet validate: scenario {} ({}), {} GPUs, model {} (H {}, F {}, {} experts, top-{}), {} tokens/GPU\n",
             r.scenario->name, r.scenario->origin, r.topology->num_gpus(), r.scenario->model.preset, r.scenario->model.hidden,
             r.scenario->model.expert_ffn, r.scenario->model.experts, r.scenario->model.top_k,
             r.scenario->workload.tokens_per_gpu);
  fmt::print("# placement {}, a2a direct (NCCL send/recv; all-to-alls: worst rank), {}{}, NCCL maxCTAs {}\n",
             r.placement.text(), real_run_description(r.options),
             r.options.compute.pipeline_gemm_sms > 0 ? fmt::format(" ({} SMs when pipelined)", r.options.compute.pipeline_gemm_sms) : "",
             r.options.comm.max_ctas > 0 ? std::to_string(r.options.comm.max_ctas) : "default");
  fmt::print("# cost model (Plans, dynamic): {}\n", r.cost_model->description());
  fmt::print("# forward + backward of one MoE layer; op times are busy time on the critical GPU\n");
  fmt::print("{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:<7}\n", "partition", "layer",
             "expert", "a2a", "permute", "other", "overlap", "eff", "err_none", "row_none", "err_cpu", "row_cpu", "verdict");
  fmt::print("{:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:<7}\n", "#", "ms", "ms", "ms", "ms",
             "ms", "%", "", "", "", "", "", "");
  for (const PolicyReport& p : reports) {
    auto ms = [&](OpKind k) { return p.busy_s[static_cast<std::size_t>(k)] * 1e3; };
    const std::string eff = std::isfinite(p.overlap_efficiency) ? fmt::format("{:.2f}", p.overlap_efficiency) : "-";
    fmt::print("{:<10} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>8.1f} {:>8} {:>9} {:>9} {:>9} {:>9} {:<7}\n", p.partition,
               p.metrics.layer_time_s * 1e3, ms(OpKind::EXPERT_GEMM) + ms(OpKind::EXPERT_WGRAD), ms(OpKind::ALL_TO_ALL),
               ms(OpKind::PERMUTE) + ms(OpKind::UNPERMUTE), ms(OpKind::GATE) + ms(OpKind::NON_MOE) + ms(OpKind::SHARED_EXPERT),
               p.metrics.overlap_ratio * 100.0, eff, error_text(p.error_vs_none.relative), error_text(p.error_vs_none.max_row),
               p.cpu_checked ? error_text(p.error_vs_cpu.relative) : "-", p.cpu_checked ? error_text(p.error_vs_cpu.max_row) : "-",
               p.pass ? "ok" : "FAILED");
  }
  for (const PolicyReport& p : reports)
    fmt::print("# {}: {}{}\n", p.partition, p.choice,
               p.same_plan_as.empty() ? "" : fmt::format(" (the Plan of {}: measured once for both)", p.same_plan_as));
  fmt::print("# eff = (T_none - T) / (T_none - max(T_comm, T_compute) of none); err: relative L2 error of the layer output,\n"
             "# input gradient and first expert's weight gradients (the worst of the three), row: the worst row's; against\n"
             "# none (tolerance {}, rows {}), and none's against a CPU fp32 forward and backward (tolerance {}, rows {})\n",
             POLICY_TOLERANCE, ROW_TOLERANCE, CPU_REFERENCE_TOLERANCE, ROW_TOLERANCE);
}

}  // namespace

void ValidateCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("validate", "Run the scenario's partition policies on this machine's GPUs with real CUDA "
                                        "and NCCL kernels; time every op and check numerics");
  app_->add_option("scenario", file_, "Scenario file (its GPUs must be present; one expert-parallel group)")->required();
  app_->add_flag("--measure-only", measure_only_, "Measure only (no prediction by the analytical engine alongside)");
  app_->add_option("--calibration", calibration_,
                   "Calibration YAML of the scenario's GPU (comet calibrate): builds the Plans (dynamic) and predicts "
                   "(default: the shipped calibrations/<gpu>.yaml, else datasheet figures)");
  app_->add_option("-o,--output", output_, "Write the measured Timelines and summaries as JSON to this file");
  app_->add_option("--placement", placement_, "Placement policy (default: the scenario's first)");
  add_list_option(*app_, "--partitions", partitions_,
                  "Partition policies, comma-separated (default: the scenario's; none always runs first)");
  add_real_run_options(*app_, options_, "policy");
  app_->add_option("--comm-ctas", comm_ctas_, "NCCL maxCTAs of the communicators (SMs communication may take; 0 = NCCL's choice)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app_->add_option("--pipeline-gemm-sms", pipeline_gemm_sms_,
                   "SMs each expert GEMM of pipelined policies (more than one chunk) is sized for, to leave the rest to the "
                   "NCCL kernels beside it (cublasSetSmCountTarget; GEMMs of several lanes running at once may still fill "
                   "the GPU; 0 = the Plan's share)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app_->add_flag("--no-op-graphs", no_op_graphs_,
                 "Enqueue the expert ops' kernels on every run instead of replaying CUDA graphs captured on the first "
                 "(for comparison: the host's launch cost then shows in the times)");
  app_->add_option("--inject-fault", fault_, "Testing aid: silent-rank:R makes rank R skip its all-to-alls (comet:B: the fused kernels never pull its rows)");
}

int ValidateCommand::run() const {
  const Scenario scenario = load_scenario_argument(file_);
  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const CostModel cost_model = cost_model_for(scenario.topology.node.gpu_model, calibration_);
  ValidationRequest request{&scenario, &topology, &costs, &cost_model, nullptr, scenario_argument_text(file_), {}, {}, {}, {}};
  if (!measure_only_) request.predict_with = &cost_model;
  request.provenance = measurement_provenance(command_);
  request.placement = policy_option(scenario, PolicyFamily::PLACEMENT, "--placement", placement_);
  if (partitions_.empty())
    request.partitions = scenario.partitions;
  else
    for (const std::string& p : partitions_) request.partitions.push_back(policy_option(scenario, PolicyFamily::PARTITION, "--partitions", p));
  for (const PolicySpec& p : request.partitions)
    if (transfer_blocks_of(p) > 0 && scenario.expert_parallel > 1)  // the fused launches are not ordered across GPUs yet
      throw InputError(partitions_.empty() ? InputLocation{scenario.origin, 0, 0} : InputLocation{"<command line>", 0, 0},
                       partitions_.empty() ? "policies.partition" : "--partitions", p.text(),
                       fmt::format("a partition comet validate runs at expert parallelism {} (none, fixed:K, tapered:K, dynamic, "
                                   "fine); comet:B runs on one GPU only for now, between GPUs it is simulated only "
                                   "(docs/fused-kernels.md)",
                                   scenario.expert_parallel));
  request.options = options_;
  request.options.comm.max_ctas = comm_ctas_;
  request.options.compute.op_graphs = !no_op_graphs_;
  request.options.compute.pipeline_gemm_sms = pipeline_gemm_sms_;
  request.options.seed = scenario.workload.seed;
  request.options.fault = parse_fault(fault_);
  request.options.mpi = mpi_;
  std::vector<PolicyReport> reports;
  try {
    reports = validate_policies(request);
  } catch (const GpuError& error) {
    fmt::print(stderr, "comet: GPU error: {}\n", error.what());
    return EXIT_GPU_FAILURE;
  }
  if (mpi_ && !mpi_->root()) return 0;  // rank 0 prints, writes and decides the verdict
  print_table(request, reports);
  if (!measure_only_) {
    std::vector<PolicyPrediction> rows;
    for (const PolicyReport& p : reports) rows.push_back({p.partition, *p.prediction});
    fmt::print("\n");
    print_prediction_table("analytical", cost_model, rows);
  }
  if (!output_.empty()) write_file_atomically(output_, validation_json(request, reports).dump(1) + "\n");
  for (const PolicyReport& p : reports)
    if (!p.pass) return 1;
  return 0;
}

}  // namespace comet
