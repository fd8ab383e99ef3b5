#include "workload_command.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "placement_policies.hpp"
#include "scenario_argument.hpp"
#include "token_exchange.hpp"
#include "workload.hpp"

namespace comet {

void WorkloadCommand::add_to(CLI::App& app) {
  app_ = app.add_subcommand("workload", "Generate a scenario's routing per step, print its imbalance, and "
                                        "optionally export it as a trace CSV");
  app_->add_option("scenario", file_, "Scenario file, or a shipped scenario's name (default: the built-in 1024-GPU scenario)");
  app_->add_option("--export", export_, "Write the routing of every step to this CSV file (the workload.placement_fit_steps steps placements are fitted on first, as a trace holds them)");
  app_->add_flag("--json", json_, "Print a JSON array, one object per step");
}

int WorkloadCommand::run() const {
  const Scenario scenario = load_scenario_argument(file_);
  const int gpus = scenario.num_gpus();
  const Workload workload(scenario.workload, {gpus, scenario.expert_parallel, scenario.model.experts, scenario.model.top_k});
  // Received per GPU depends on the placement; report it for the baseline, contiguous.
  const ExpertPlacement contiguous = contiguous_placement(scenario.model.experts, scenario.expert_parallel);

  std::vector<RoutingMatrix> steps;
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  if (!json_) {
    fmt::print("# comet workload {}\n", file_.empty() ? "<built-in default scenario>" : file_);
    fmt::print("# scenario {}  gpus {}  experts {}  top-{}  EP {}  routing {}  seed {}\n", scenario.name, gpus,
               scenario.model.experts, scenario.model.top_k, scenario.expert_parallel,
               to_string(scenario.workload.routing.kind), scenario.workload.seed);
    fmt::print("{:>5} {:>14} {:>12} {:>12} {:>12}\n", "step", "copies", "expert", "gpu_recv", "gpu_sent");
    fmt::print("{:>5} {:>14} {:>12} {:>12} {:>12}\n", "#", "count", "max/mean", "max/mean", "max/mean");
  }
  for (int step = 0; step < workload.num_steps(); ++step) {
    steps.push_back(workload.sample(step));
    const RoutingMatrix& m = steps.back();
    const double expert = max_over_mean(m.per_expert());
    const double received = max_over_mean(exchange_tokens(m, contiguous).received_per_gpu());
    const double sent = max_over_mean(m.per_source());
    if (json_)
      all.push_back({{"step", step}, {"copies", m.total()}, {"expert_imbalance", expert},
                     {"gpu_received_imbalance_contiguous", received}, {"gpu_sent_imbalance", sent}});
    else
      fmt::print("{:>5} {:>14} {:>12.3f} {:>12.3f} {:>12.3f}\n", step, m.total(), expert, received, sent);
  }
  if (json_) fmt::print("{}\n", all.dump(2));
  if (!export_.empty()) {
    // The steps placements are fitted on first, as a trace holds them: a scenario replaying the
    // trace (with the same placement_fit_steps) fits and runs on exactly these matrices.
    std::vector<RoutingMatrix> trace;
    for (int i = 0; i < workload.num_fit_steps(); ++i) trace.push_back(workload.fit_sample(i));
    trace.insert(trace.end(), steps.begin(), steps.end());
    write_trace_csv(export_, trace);
    fmt::print(stderr, "comet: wrote {} steps to {} ({} placement fit steps, then {} steps)\n", trace.size(), export_,
               workload.num_fit_steps(), steps.size());
  }
  return 0;
}

}  // namespace comet
