// One simulation: scenario + policies + engine -> Plan -> Timeline -> Metrics. Shared by
// `comet simulate` and the benchmarks (and later `comet compare` and `comet sweep`).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "cost_model.hpp"
#include "metrics.hpp"
#include "path_costs.hpp"
#include "plan_builder.hpp"
#include "scenario.hpp"
#include "timeline.hpp"
#include "topology.hpp"

namespace comet {

struct SimulationSetup {
  const Scenario* scenario = nullptr;
  const Topology* topology = nullptr;
  const PathCosts* costs = nullptr;
  const CostModel* cost_model = nullptr;
  std::string engine;
  int layers = 1;
  int steps = 1;
  const PlanRouting* routing = nullptr;  ///< the scenario's routed workload, shared by its Plans (or null)
};

struct SimulationResult {
  PolicyTriple policies;
  std::string partition_choice;  ///< step 0's
  Timeline timeline;
  Metrics metrics;
  std::vector<PhaseRow> rows;
  std::shared_ptr<const Plan> plan;  ///< what ran: reports route its all-to-alls (link tracks)
};

/// `placement`: the placement policies.placement names, made by the caller (make_plan_placement);
/// null: the Plan's builder makes it.
SimulationResult simulate(const SimulationSetup& setup, const PolicyTriple& policies, const ExpertPlacement* placement = nullptr);

struct ResultWithBaseline {
  SimulationResult result;
  double baseline_layer_time_s = 0.0;  ///< contiguous / none / direct on the same setup
};

/// simulate(setup, policies) and the baseline's (contiguous / none / direct) layer time: the
/// result's own when `policies` is the baseline, else simulated in a child process beside it
/// (the two share nothing, so a second core halves the wait).
ResultWithBaseline simulate_with_baseline(const SimulationSetup& setup, const PolicyTriple& policies);

/// The `comet simulate --json` object (deterministic: no wall times).
/// The critical path (critical_path.hpp) as JSON: its GPU, the three figures and its ops.
nlohmann::ordered_json critical_path_json(const Plan& plan, const CriticalPath& path);

nlohmann::ordered_json result_json(const SimulationSetup& setup, const SimulationResult& result,
                                   double baseline_layer_time_s);

}  // namespace comet
