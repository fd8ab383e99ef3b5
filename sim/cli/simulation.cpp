#include "simulation.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

#include "child_process.hpp"
#include "executor.hpp"
#include "policy_combinations.hpp"

namespace comet {

namespace {

// The Plan of `policies` and its Timeline on the setup's engine.
std::pair<BuiltPlan, Timeline> build_and_run(const SimulationSetup& s, const PolicyTriple& policies, const ExpertPlacement* placement) {
  PlanRequest request{s.scenario, s.topology, s.costs, s.cost_model, policies.placement,
                      policies.partition, policies.a2a, s.layers, s.steps};
  request.routing = s.routing;
  request.made_placement = placement;
  BuiltPlan built = build_plan(request);
  Timeline timeline = s.engine == "analytical" && built.analytical_run ? std::move(*built.analytical_run)
                                                                       : make_executor(s.engine)->run(built.plan, *s.topology, *s.cost_model);
  return {std::move(built), std::move(timeline)};
}

}  // namespace

SimulationResult simulate(const SimulationSetup& s, const PolicyTriple& policies, const ExpertPlacement* placement) {
  auto [built, timeline] = build_and_run(s, policies, placement);
  SimulationResult result;
  result.policies = policies;
  result.partition_choice = built.partition_choices.empty() ? "" : built.partition_choices.front();
  result.timeline = std::move(timeline);
  result.metrics = compute_metrics(built.plan, result.timeline, *s.topology, *s.costs);
  result.rows = phase_rows(result.timeline, result.metrics, s.scenario->expert_parallel);
  result.plan = std::make_shared<const Plan>(std::move(built.plan));
  return result;
}

nlohmann::ordered_json result_json(const SimulationSetup& s, const SimulationResult& r, double baseline_layer_time_s) {
  const Metrics& m = r.metrics;
  nlohmann::ordered_json j;
  j["scenario"] = s.scenario->name;
  j["topology"] = s.scenario->topology.name;
  j["model"] = s.scenario->model.preset;
  j["engine"] = s.engine;
  j["engine_caveat"] = engine_caveat(s.engine, *s.topology);
  j["gpus"] = s.topology->num_gpus();
  j["expert_parallel"] = s.scenario->expert_parallel;
  j["placement"] = r.policies.placement.text();
  j["partition"] = r.policies.partition.text();
  j["a2a"] = r.policies.a2a.text();
  j["partition_choice"] = r.partition_choice;
  j["layers"] = s.layers;
  j["steps"] = s.steps;
  j["layer_time_s"] = m.layer_time_s;
  j["makespan_s"] = m.makespan_s;
  j["compute_s"] = m.compute_s;
  j["comm_s"] = m.comm_s;
  j["exposed_comm_s"] = m.exposed_comm_s;
  j["imbalance_s"] = m.imbalance_s;
  j["overlap_ratio"] = m.overlap_ratio;
  j["idle_fraction"] = m.idle_fraction;
  j["critical_gpu"] = m.critical_gpu;
  j["critical_path"] = critical_path_json(*r.plan, m.critical_path);
  for (std::size_t t = 0; t < NUM_TIERS; ++t) j["bytes_by_tier"][std::string(to_string(static_cast<Tier>(t)))] = m.bytes_by_tier[t];
  for (std::size_t c = 0; c < NUM_LINK_CLASSES; ++c)
    j["bytes_by_link_class"][std::string(to_string(static_cast<LinkClass>(c)))] = m.bytes_by_link_class[c];
  j["max_link"] = m.max_link;
  j["max_link_bytes"] = m.max_link_bytes;
  j["max_link_mean_utilization"] = m.max_link_mean_utilization;
  j["max_link_busy_utilization"] = m.max_link_busy_utilization;
  j["baseline_layer_time_s"] = baseline_layer_time_s;
  j["speedup_vs_baseline"] = m.layer_time_s > 0.0 ? baseline_layer_time_s / m.layer_time_s : 1.0;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const PhaseRow& row : r.rows)
    rows.push_back({{"step", row.step}, {"layer", row.layer}, {"direction", std::string(to_string(row.direction))},
                    {"time_s", row.span_s}, {"compute_s", row.compute_s}, {"comm_s", row.comm_s},
                    {"exposed_comm_s", row.exposed_s}, {"imbalance_s", row.imbalance_s},
                    {"critical_path", {{"compute_s", row.path_compute_s}, {"all_to_all_s", row.path_comm_s},
                                       {"imbalance_s", row.imbalance_s}}}});
  j["rows"] = std::move(rows);
  return j;
}

nlohmann::ordered_json critical_path_json(const Plan& plan, const CriticalPath& path) {
  nlohmann::ordered_json j;
  j["gpu"] = path.gpu;
  j["compute_s"] = path.compute_s;
  j["all_to_all_s"] = path.all_to_all_s;
  j["imbalance_s"] = path.imbalance_s;
  nlohmann::ordered_json ops = nlohmann::ordered_json::array();
  for (const PathStep& step : path.steps) {
    const Op& op = plan.ops()[step.op];
    ops.push_back({{"op", op.id}, {"kind", std::string(to_string(op.kind))}, {"gpu", op.gpu}, {"group", op.group},
                   {"layer", op.tags.layer}, {"step", op.tags.step}, {"direction", std::string(to_string(op.tags.direction))},
                   {"chunk", op.tags.chunk}, {"compute_s", step.compute_s}, {"all_to_all_s", step.all_to_all_s},
                   {"imbalance_s", step.imbalance_s}});
  }
  j["ops"] = std::move(ops);
  return j;
}

ResultWithBaseline simulate_with_baseline(const SimulationSetup& given, const PolicyTriple& policies) {
  const PolicyTriple baseline = baseline_policies();
  // Routed once, before the fork: both Plans are built from it.
  std::optional<PlanRouting> routing;
  SimulationSetup setup = given;
  {
    // The groups' routes are walked while the workload is drawn, and before the fork, so that
    // the baseline's child inherits them instead of walking them again.
    const int group_size = setup.scenario->expert_parallel;
    std::thread walker([&] {
      for (int group = 0; group < setup.topology->num_gpus() / group_size; ++group)
        setup.topology->group_routes(group_size, group);
    });
    try {
      if (!setup.routing) {
        routing = route_workload(*setup.scenario, setup.topology->num_gpus(), setup.steps);
        setup.routing = &*routing;
      }
    } catch (...) {
      walker.join();
      throw;
    }
    walker.join();
  }
  if (same_policies(policies, baseline)) {
    SimulationResult result = simulate(setup, policies);
    const double layer_time_s = result.metrics.layer_time_s;
    return {std::move(result), layer_time_s};
  }
  // Hexadecimal floating point: the parent reads back exactly the double the child computed.
  // In its own process group with a parent-death signal: it never outlives this process. The
  // child computes the layer time only (no critical path or other metrics): it shares the two
  // cores with the parent's Plan and footprints.
  const RunningChild child = spawn_child_process(
      [&] {
        const auto [built, timeline] = build_and_run(setup, baseline, nullptr);
        return fmt::format("{:a}", layer_time_s(built.plan, timeline));
      },
      /*own_process_group=*/true);
  ResultWithBaseline out;
  try {
    out.result = simulate(setup, policies);
  } catch (...) {
    ::kill(-child.pid, SIGTERM);
    finish_child_process(child);
    throw;
  }
  const ChildOutcome outcome = finish_child_process(child);
  char* end = nullptr;
  out.baseline_layer_time_s = outcome.failed || outcome.signal != 0 ? 0.0 : std::strtod(outcome.output.c_str(), &end);
  if (outcome.signal != 0 || outcome.failed || end != outcome.output.c_str() + outcome.output.size())
    throw std::runtime_error(fmt::format("the baseline (contiguous / none / direct) simulation failed: {}",
                                         outcome.signal != 0 ? strsignal(outcome.signal) : outcome.output));
  return out;
}

}  // namespace comet
