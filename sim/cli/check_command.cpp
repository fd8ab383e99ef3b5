#include "check_command.hpp"

#include <fmt/format.h>

#include "builtin_files.hpp"
#include "cluster_summary.hpp"
#include "scenario.hpp"
#include "topology_builders.hpp"
#include "workload.hpp"

namespace comet {

void CheckCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("check", "Validate a scenario or topology file and print a summary of the "
                                     "cluster (GPUs, switches, links, bisection) and the model");
  app_->add_option("file", file_,
                   "Scenario or topology YAML file, or a shipped topology name; the built-in default "
                   "scenario when omitted");
  app_->add_flag("--json", json_, "Print one JSON object instead of the table");
}

int CheckCommand::run() const {
  std::optional<Scenario> scenario;
  TopologySpec spec;
  std::string source = file_.empty() ? "<built-in default scenario>" : file_;
  if (file_.empty()) {
    scenario = default_scenario();
  } else if (find_builtin_topology(file_) && !path_exists(file_)) {
    spec = load_topology(file_, ".");
  } else {
    const YamlValue root = load_yaml_file(file_);
    if (detect_file_kind(root) == FileKind::SCENARIO)
      scenario = parse_scenario(root, std::filesystem::path(file_).parent_path());
    else
      spec = parse_topology_spec(root);
  }
  if (scenario) spec = scenario->topology;
  const Topology topology = build_topology(spec);
  // check vouches only for what it read: a trace-driven workload's file is read and validated
  // now (header, steps, GPUs, experts, tokens), as `comet workload` would.
  if (scenario)
    (void)Workload(scenario->workload, {topology.num_gpus(), scenario->expert_parallel, scenario->model.experts,
                                        scenario->model.top_k});
  const ClusterSummary summary = summarize_cluster(spec, topology);
  const Scenario* s = scenario ? &*scenario : nullptr;
  if (json_) fmt::print("{}\n", summary_json(summary, s).dump(2));
  else fmt::print("{}", summary_text(source, summary, s));
  return 0;
}

}  // namespace comet
