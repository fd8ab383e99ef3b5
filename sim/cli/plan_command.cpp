#include "calibration_file.hpp"
#include "plan_command.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>

#include "path_costs.hpp"
#include "plan_builder.hpp"
#include "scenario_argument.hpp"
#include "topology_builders.hpp"
#include "units.hpp"

namespace comet {

void PlanCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("plan", "Build the Plan (the DAG every executor runs) for one policy triple and "
                                    "summarize it");
  app_->add_option("scenario", file_, "Scenario file, or a shipped scenario's name (default: the built-in 1024-GPU scenario)");
  policies_.add_to(*app_);
  app_->add_option("--layers", layers_, "MoE layers in the plan")->capture_default_str()->check(CLI::PositiveNumber);
  app_->add_option("--steps", steps_, "Training steps (forward + backward)")->capture_default_str()->check(CLI::PositiveNumber);
  app_->add_flag("--json", json_, "Print one JSON object");
}

int PlanCommand::run() const {
  const Scenario scenario = load_scenario_argument(file_);
  const auto start = std::chrono::steady_clock::now();
  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const CostModel cost_model = cost_model_for(scenario.topology.node.gpu_model, {});
  const PolicyTriple policies = policies_.resolve(scenario);
  PlanRequest request{&scenario, &topology, &costs, &cost_model, policies.placement, policies.partition, policies.a2a,
                      layers_, steps_};
  const BuiltPlan built = build_plan(request);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Plan& plan = built.plan;

  std::array<int, NUM_OP_KINDS> ops_by_kind{};
  std::map<std::string, double> bytes_by_phase;
  int max_chunk = 0;
  for (const Op& op : plan.ops()) {
    ++ops_by_kind[static_cast<std::size_t>(op.kind)];
    max_chunk = std::max(max_chunk, op.tags.chunk);
    if (op.kind == OpKind::ALL_TO_ALL)
      bytes_by_phase[std::string(to_string(op.tags.phase))] += plan.matrices()[op.matrix].total_bytes();
  }
  const std::uint64_t hash = plan.stable_hash();
  if (json_) {
    nlohmann::ordered_json j;
    j["scenario"] = scenario.name;
    j["gpus"] = topology.num_gpus();
    j["placement"] = request.placement.text();
    j["partition"] = request.partition.text();
    j["a2a"] = request.a2a.text();
    j["layers"] = layers_;
    j["steps"] = steps_;
    j["ops"] = plan.ops().size();
    j["dependencies"] = plan.num_dependencies();
    j["streaming_dependencies"] = plan.num_streaming_dependencies();
    j["transfer_blocks"] = plan.header().transfer_blocks;
    for (std::size_t k = 0; k < NUM_OP_KINDS; ++k) j["ops_by_kind"][std::string(to_string(static_cast<OpKind>(k)))] = ops_by_kind[k];
    j["chunks"] = max_chunk + 1;
    for (const auto& [phase, bytes] : bytes_by_phase) j["bytes_by_phase"][phase] = bytes;
    j["partition_choices"] = built.partition_choices;
    j["plan_hash"] = fmt::format("{:016x}", hash);
    j["plan_memory_bytes"] = plan.memory_bytes();
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("# comet plan {}\n", file_.empty() ? "<built-in default scenario>" : file_);
  fmt::print("# scenario {}  topology {}  gpus {}  model {}  EP {}\n", scenario.name, scenario.topology.name,
             topology.num_gpus(), scenario.model.preset, scenario.expert_parallel);
  fmt::print("# placement {}  partition {}  a2a {}  layers {}  steps {}  cost model {}\n", request.placement.text(),
             request.partition.text(), request.a2a.text(), layers_, steps_, cost_model.description());
  fmt::print("{:<14} {:>10}\n{:<14} {:>10}\n", "op kind", "count", "#", "ops");
  for (std::size_t k = 0; k < NUM_OP_KINDS; ++k) fmt::print("{:<14} {:>10}\n", to_string(static_cast<OpKind>(k)), ops_by_kind[k]);
  fmt::print("{:<14} {:>10}\n\n", "total", plan.ops().size());
  fmt::print("{:<14} {:>14}\n{:<14} {:>14}\n", "a2a phase", "bytes", "#", "B");
  for (const auto& [phase, bytes] : bytes_by_phase) fmt::print("{:<14} {:>14.6g}\n", phase, bytes);
  fmt::print("\n");
  for (std::size_t step = 0; step < built.partition_choices.size(); ++step)
    fmt::print("partition, step {}: {}\n", step, built.partition_choices[step]);
  fmt::print("dependencies {} (streaming {}), plan memory {}, plan hash {:016x}\n", plan.num_dependencies(),
             plan.num_streaming_dependencies(), format_quantity(static_cast<double>(plan.memory_bytes()), Dimension::BYTES), hash);
  if (plan.header().transfer_blocks > 0)
    fmt::print("fused kernels: {} transfer blocks per GPU, GEMMs on the other SMs (and on theirs once the copy side's rows are in)\n",
               plan.header().transfer_blocks);
  fmt::print("built in {:.3f} s (workload, placement, partition, plan)\n", seconds);
  return 0;
}

}  // namespace comet
