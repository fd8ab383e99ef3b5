#include "validation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "analytical_engine.hpp"
#include "calibration_file.hpp"
#include "fused_expert_ops.hpp"
#include "input_error.hpp"
#include "mpi_executor.hpp"
#include "numerics.hpp"
#include "op_costs.hpp"
#include "partition_policies.hpp"
#include "plan_builder.hpp"
#include "token_layout.hpp"

namespace comet {
namespace {

struct PreparedPolicy {
  PolicySpec partition;
  std::unique_ptr<BuiltPlan> built;
  std::unique_ptr<TokenLayout> layout;
};

PreparedPolicy prepare(const ValidationRequest& r, const PolicySpec& partition) {
  PlanRequest plan_request{r.scenario, r.topology, r.costs, r.cost_model, r.placement, partition, parse_policy(PolicyFamily::A2A, "direct")};
  plan_request.keep_chunks = true;
  PreparedPolicy p{partition, std::make_unique<BuiltPlan>(build_plan(plan_request)), nullptr};
  const ChunkPlan& chunks = p.built->chunks.front();
  if (chunks.parts.empty())
    throw InputError({r.scenario->origin, 0, 0}, "partition", partition.text(),
                     "a policy whose chunks split replicated experts, which the real executor does not run");
  try {
    p.layout = std::make_unique<TokenLayout>(chunks.parts, p.built->placement, r.scenario->model.top_k, r.options.seed);
  } catch (const std::invalid_argument& error) {
    throw InputError({r.scenario->origin, 0, 0}, "placement", r.placement.text(), error.what());
  }
  return p;
}

// The Plan's all-to-all bytes and the token layout must describe the same traffic.
void check_plan_matches_layout(const Plan& plan, const TokenLayout& layout, double bytes_per_copy) {
  for (const Op& op : plan.ops()) {
    if (op.kind != OpKind::ALL_TO_ALL) continue;
    for (const Transfer& t : plan.matrices()[op.matrix].transfers) {
      const double rows = static_cast<double>(layout.chunk(op.tags.chunk, t.src).send_count[t.dst]);
      if (std::abs(rows * bytes_per_copy - t.bytes) > 0.5)
        throw std::logic_error(fmt::format("op {}: the plan moves {} bytes from GPU {} to {}, the token layout {} rows",
                                           op.id, t.bytes, t.src, t.dst, rows));
    }
  }
}

std::array<double, NUM_OP_KINDS> busy_per_kind(const Timeline& t, int critical_gpu, int ep) {
  std::array<std::vector<std::pair<double, double>>, NUM_OP_KINDS> intervals;
  for (const TimelineOp& op : t.ops) {
    const bool mine = op.kind == OpKind::ALL_TO_ALL ? op.group == critical_gpu / ep : op.gpu == critical_gpu;
    if (mine) intervals[static_cast<std::size_t>(op.kind)].emplace_back(op.start_s, op.end_s);
  }
  std::array<double, NUM_OP_KINDS> out{};
  for (std::size_t k = 0; k < NUM_OP_KINDS; ++k) out[k] = union_length(intervals[k]);
  return out;
}

}  // namespace

std::vector<PolicyReport> validate_policies(const ValidationRequest& r) {
  check_fits_machine(r.scenario->origin, r.topology->num_gpus(), r.scenario->expert_parallel, r.options.mpi);
  for (const PolicySpec& p : r.partitions) {
    if (std::string why; transfer_blocks_of(p) > 0 && !FusedExpertOps::available(&why))
      throw InputError({r.scenario->origin, 0, 0}, "partition", p.text(), "a partition this build and GPU run: " + why);
    // Between GPUs the fused launches map the other ranks' buffers, which threads of one process
    // share (peer access); MPI processes would need CUDA IPC handles and events, not built.
    if (transfer_blocks_of(p) > 0 && r.options.mpi && r.topology->num_gpus() > 1)
      throw InputError({r.scenario->origin, 0, 0}, "partition", p.text(),
                       "comet:B between GPUs in the thread-per-GPU launch (comet validate without mpirun)");
  }
  std::vector<PolicySpec> partitions = r.partitions;
  auto is_none = [](const PolicySpec& p) { return p.name == "none"; };
  partitions.erase(std::remove_if(partitions.begin(), partitions.end(), is_none), partitions.end());
  partitions.insert(partitions.begin(), parse_policy(PolicyFamily::PARTITION, "none"));

  const MoeModel& m = r.scenario->model;
  const LayerDims dims{m.hidden, m.expert_ffn, m.top_k, m.experts};
  std::vector<PreparedPolicy> prepared;
  std::vector<RealJob> jobs;
  for (const PolicySpec& partition : partitions) {
    prepared.push_back(prepare(r, partition));
    check_plan_matches_layout(prepared.back().built->plan, *prepared.back().layout, m.bytes_per_token_copy());
  }
  // A policy whose Plan does another's work (dynamic choosing one chunk: none's) is measured once:
  // timing the same Plan twice would report the GPU's drift between the runs as a difference.
  std::vector<std::size_t> job_of(prepared.size()), first_policy;
  std::vector<std::uint64_t> job_hashes;
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    const PreparedPolicy& p = prepared[i];
    const std::uint64_t hash = p.built->plan.work_hash();
    const auto same = std::find(job_hashes.begin(), job_hashes.end(), hash);
    job_of[i] = static_cast<std::size_t>(same - job_hashes.begin());
    if (same != job_hashes.end()) continue;
    job_hashes.push_back(hash);
    first_policy.push_back(i);
    // The Plan's SM share for the cuBLAS expert GEMMs (fine-grained overlap reserves SMs for NCCL).
    jobs.push_back({p.partition.text(), &p.built->plan, p.layout.get(), cublas_expert_sm_fraction(p.built->plan)});
  }
  const std::vector<RealMeasurement> runs = run_on_gpus(jobs, dims, r.topology->num_gpus(), r.options);
  if (runs.empty()) return {};  // an MPI rank other than 0: rank 0 reports

  std::vector<PolicyReport> reports;
  const LayerTensors& none_tensors = runs[0].tensors;
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    const RealMeasurement& measured = runs[job_of[i]];
    PolicyReport report;
    report.partition = prepared[i].partition.text();
    report.choice = prepared[i].built->partition_choices.front();
    report.plan_hash = prepared[i].built->plan.stable_hash();
    if (first_policy[job_of[i]] != i) report.same_plan_as = prepared[first_policy[job_of[i]]].partition.text();
    report.timeline = measured.timeline;
    report.layer_time_samples_s = measured.layer_time_samples_s;
    if (r.predict_with) {
      const Plan& plan = prepared[i].built->plan;
      report.prediction = compare_timelines(plan, AnalyticalEngine().run(plan, *r.topology, *r.predict_with), report.timeline);
    }
    report.metrics = compute_metrics(prepared[i].built->plan, report.timeline, *r.topology, *r.costs);
    report.busy_s = busy_per_kind(report.timeline, report.metrics.critical_gpu, r.scenario->expert_parallel);
    // Against none; none against itself proves only that all it produced is finite (a NaN fails).
    report.error_vs_none = layer_error(measured.tensors, none_tensors, dims);
    reports.push_back(std::move(report));
  }
  PolicyReport& none = reports.front();
  if (cpu_reference_cost(*prepared[0].layout, dims) <= r.cpu_reference_limit) {
    const TokenLayout& layout = *prepared[0].layout;
    none.error_vs_cpu = layer_error(none_tensors, reference_layer(layout, dims, generated_inputs(layout, dims, DataSeeds{r.options.seed})), dims);
    none.cpu_checked = true;
  }
  const double t_none = none.metrics.layer_time_s;
  const double serial_floor = std::max(none.metrics.comm_s, none.metrics.compute_s);
  for (PolicyReport& report : reports) {
    // Undefined without communication to hide (one GPU): NaN, printed as "-" and null in JSON.
    report.overlap_efficiency = none.metrics.comm_s > 0.0 && t_none > serial_floor
                                    ? (t_none - report.metrics.layer_time_s) / (t_none - serial_floor)
                                    : std::numeric_limits<double>::quiet_NaN();
    report.pass = report.error_vs_none.relative <= POLICY_TOLERANCE && report.error_vs_none.max_row <= ROW_TOLERANCE &&
                  (!report.cpu_checked ||
                   (report.error_vs_cpu.relative <= CPU_REFERENCE_TOLERANCE && report.error_vs_cpu.max_row <= ROW_TOLERANCE));
  }
  return reports;
}

nlohmann::ordered_json validation_json(const ValidationRequest& r, const std::vector<PolicyReport>& reports) {
  nlohmann::ordered_json out;
  out["format"] = MEASURED_FORMAT;
  out["scenario"] = r.scenario->name;
  out["scenario_origin"] = r.scenario->origin;
  out["scenario_yaml"] = r.scenario_text;
  out["layers"] = 1;
  out["steps"] = 1;
  out["seed"] = r.options.seed;
  out["planning_cost_model"] = cost_model_yaml(*r.cost_model);
  nlohmann::ordered_json provenance = nlohmann::ordered_json::object();
  for (const auto& [key, value] : r.provenance) provenance[key] = value;
  out["provenance"] = provenance;
  out["gpus"] = r.topology->num_gpus();
  out["placement"] = r.placement.text();
  out["a2a"] = "direct";
  out["warmup"] = r.options.warmup;
  out["repeats"] = r.options.repeats;
  out["passes"] = r.options.passes;
  out["heat_s"] = r.options.heat_s;
  out["lead_in_s"] = r.options.lead_in_s;
  out["expert_lanes"] = r.options.compute.expert_lanes;
  out["expert_gemm"] = r.options.compute.expert_gemm;  // as asked; "auto" decides per rank
  out["op_graphs"] = r.options.compute.op_graphs;
  out["pipeline_gemm_sms"] = r.options.compute.pipeline_gemm_sms;
  out["nccl_max_ctas"] = r.options.comm.max_ctas;  // 0: NCCL's choice
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr); };
  for (const PolicyReport& p : reports) {
    nlohmann::ordered_json j;
    j["partition"] = p.partition;
    j["choice"] = p.choice;
    j["plan_hash"] = fmt::format("{:016x}", p.plan_hash);
    j["layer_time_samples_s"] = p.layer_time_samples_s;
    j["layer_time_s"] = p.metrics.layer_time_s;
    j["compute_s"] = p.metrics.compute_s;
    j["comm_s"] = p.metrics.comm_s;
    j["exposed_comm_s"] = p.metrics.exposed_comm_s;
    j["overlap_ratio"] = p.metrics.overlap_ratio;
    j["overlap_efficiency"] = number(p.overlap_efficiency);
    nlohmann::ordered_json busy;
    for (std::size_t k = 0; k < NUM_OP_KINDS; ++k) busy[std::string(to_string(static_cast<OpKind>(k)))] = p.busy_s[k];
    j["busy_s_by_op_kind"] = busy;
    if (!p.same_plan_as.empty()) j["same_plan_as"] = p.same_plan_as;
    j["error_vs_none"] = number(p.error_vs_none.relative);
    j["row_error_vs_none"] = number(p.error_vs_none.max_row);
    j["error_vs_cpu"] = number(p.cpu_checked ? p.error_vs_cpu.relative : NAN);
    j["row_error_vs_cpu"] = number(p.cpu_checked ? p.error_vs_cpu.max_row : NAN);
    j["pass"] = p.pass;
    if (p.prediction) j["prediction"] = prediction_json(*p.prediction);
    j["timeline"] = timeline_to_json(p.timeline);
    list.push_back(std::move(j));
  }
  out["policies"] = std::move(list);
  return out;
}

}  // namespace comet
