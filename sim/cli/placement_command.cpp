#include "placement_command.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>

#include "input_error.hpp"
#include "path_costs.hpp"
#include "placement_policies.hpp"
#include "scenario_argument.hpp"
#include "topology_builders.hpp"
#include "traffic_report.hpp"
#include "workload.hpp"

namespace comet {

void PlacementCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("placement", "Compare expert placements: traffic per tier and the most loaded "
                                         "link, against contiguous");
  app_->add_option("scenario", file_, "Scenario file, or a shipped scenario's name (default: the built-in 1024-GPU scenario)");
  add_list_option(*app_, "--placements", placements_,
                  "Placements to compare, comma-separated (default: contiguous, strided, topology, bottleneck, "
                  "replicate:2)");
  app_->add_option("--a2a", a2a_, "direct | hierarchical (default: the scenario's first)");
  app_->add_flag("--json", json_, "Print a JSON array");
}

int PlacementCommand::run() const {
  const Scenario scenario = load_scenario_argument(file_);
  std::vector<PolicySpec> policies{parse_policy(PolicyFamily::PLACEMENT, "contiguous")};
  const std::vector<std::string> names =
      placements_.empty() ? std::vector<std::string>{"strided", "topology", "bottleneck", "replicate:2"} : placements_;
  for (const std::string& name : names)
    if (name != "contiguous") policies.push_back(policy_option(scenario, PolicyFamily::PLACEMENT, "--placements", name));
  const PolicySpec a2a = policy_option(scenario, PolicyFamily::A2A, "--a2a", a2a_);

  const Topology topology = build_topology(scenario.topology);
  const PathCosts costs(topology);
  const Workload workload(scenario.workload, {topology.num_gpus(), scenario.expert_parallel, scenario.model.experts,
                                              scenario.model.top_k});
  // Fitted on the steps before the run (placement_fit_steps), scored on the run's steps.
  const RoutingMatrix fit = workload.placement_routing(workload.num_steps());
  RoutingMatrix expected = workload.sample(0);
  for (int step = 1; step < workload.num_steps(); ++step) expected += workload.sample(step);
  const double bytes_per_copy = scenario.model.bytes_per_token_copy();
  const PlacementInputs inputs{&topology, &costs, routing_ref(fit), scenario.model.experts, scenario.expert_parallel, bytes_per_copy};
  const PlacementInputs scored{&topology, &costs, routing_ref(expected), scenario.model.experts, scenario.expert_parallel, bytes_per_copy};

  struct Row {
    TrafficReport report;
    double objective, scored_objective, seconds;
  };
  std::vector<Row> rows;
  for (const PolicySpec& policy : policies) {
    const auto start = std::chrono::steady_clock::now();
    std::optional<ExpertPlacement> placement;
    try {
      placement = make_placement(policy, inputs);
    } catch (const std::invalid_argument& error) {
      throw InputError({"<command line>", 0, 0}, "--placements", policy.text(), error.what());
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rows.push_back({traffic_report(*placement, expected, parse_a2a_algorithm(a2a.name), topology, costs, bytes_per_copy,
                                   scenario.model.top_k),
                    placement_objective(*placement, inputs), placement_objective(*placement, scored), seconds});
  }
  const Row& base = rows.front();
  auto relative = [](double value, double reference) { return reference > 0 ? value / reference - 1.0 : 0.0; };
  if (json_) {
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    for (const Row& row : rows) {
      nlohmann::ordered_json j;
      j["placement"] = row.report.placement;
      j["objective_on_fit_steps"] = row.objective;
      j["objective_on_scored_steps"] = row.scored_objective;
      for (std::size_t t = 0; t < NUM_TIERS; ++t) j["bytes_by_tier"][std::string(to_string(static_cast<Tier>(t)))] = row.report.bytes_by_tier[t];
      j["cross_node_bytes"] = row.report.cross_node_bytes;
      j["cross_node_change_vs_contiguous"] = relative(row.report.cross_node_bytes, base.report.cross_node_bytes);
      j["max_link"] = row.report.max_link;
      j["max_link_bytes"] = row.report.max_link_bytes;
      j["max_link_time_s"] = row.report.max_link_time_s;
      j["received_imbalance"] = row.report.received_imbalance;
      j["solve_s"] = row.seconds;
      all.push_back(j);
    }
    fmt::print("{}\n", all.dump(2));
    return 0;
  }
  fmt::print("# comet placement {}\n", file_.empty() ? "<built-in default scenario>" : file_);
  fmt::print("# scenario {}  topology {}  gpus {}  model {}  EP {}  routing {}  a2a {}  steps {}\n", scenario.name,
             scenario.topology.name, topology.num_gpus(), scenario.model.preset, scenario.expert_parallel,
             to_string(scenario.workload.routing.kind), a2a.text(), workload.num_steps());
  fmt::print("# fitted on {} (workload.placement_fit_steps), scored on the {} step(s) of the run; dispatch bytes per\n"
             "# tier of the scored steps (the combine mirrors them); max link over dispatch + combine\n",
             workload.num_fit_steps() > 0 ? fmt::format("{} step(s) before the run", workload.num_fit_steps())
                                          : std::string("the scored steps themselves"),
             workload.num_steps());
  constexpr const char* row_format = "{:<13} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9} {:>7}  {}\n";
  fmt::print(row_format, "placement", "fit obj", "scored", "intra", "leaf", "spine", "core", "cross-node", "max_link",
             "imbalance", "solve", "max link");
  fmt::print(row_format, "#", "vs contig", "vs contig", "GB", "GB", "GB", "GB", "vs contig", "ms", "max/mean", "s", "");
  for (const Row& row : rows) {
    const auto& t = row.report.bytes_by_tier;
    fmt::print("{:<13} {:>+8.1f}% {:>+8.1f}% {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>+9.1f}% {:>9.3f} {:>9.3f} {:>7.3f}  {}\n",
               row.report.placement, 100 * relative(row.objective, base.objective),
               100 * relative(row.scored_objective, base.scored_objective), t[0] / 1e9, t[1] / 1e9, t[2] / 1e9,
               t[3] / 1e9, 100 * relative(row.report.cross_node_bytes, base.report.cross_node_bytes),
               row.report.max_link_time_s * 1e3, row.report.received_imbalance, row.seconds, row.report.max_link);
  }
  return 0;
}

}  // namespace comet
