// A scenario given as YAML text with what build_plan needs (topology, path costs, default H100
// cost model): the fixture the plan, engine and executor-layout tests build their plans from.
#pragma once

#include <string>

#include "plan_builder.hpp"
#include "test_support.hpp"

namespace comet::testing {

struct ScenarioPlans {
  Scenario scenario;
  Topology topology;
  PathCosts costs;
  CostModel cost_model;

  ScenarioPlans(const std::string& yaml, const std::string& file_name)
      : scenario(parse_scenario(load_yaml_text(yaml, file_name), ".")),
        topology(build_topology(scenario.topology)),
        costs(topology),
        cost_model(CostModel::defaults_for("h100-sxm")) {}

  /// The plan of one policy triple; `keep_chunks` keeps each step's chunks (the real executor's input).
  BuiltPlan plan(const std::string& placement, const std::string& partition, const std::string& a2a = "direct",
                 int layers = 1, int steps = 1, bool keep_chunks = false) const {
    PlanRequest r{&scenario, &topology, &costs, &cost_model, parse_policy(PolicyFamily::PLACEMENT, placement),
                  parse_policy(PolicyFamily::PARTITION, partition), parse_policy(PolicyFamily::A2A, a2a), layers, steps};
    r.keep_chunks = keep_chunks;
    return build_plan(r);
  }
};

}  // namespace comet::testing
