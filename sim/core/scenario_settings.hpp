// Scenario keys set from the command line (`comet sweep --set workload.tokens_per_gpu=2048`):
// dotted key paths into the scenario's YAML, applied before the scenario is parsed, so that the
// scenario's own validation checks every value and names the key in its errors.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "scenario.hpp"

namespace comet {

struct ScenarioSetting {
  std::string key;    ///< dotted path: "workload.routing.alpha", "topology.tree.oversubscription"
  std::string value;  ///< YAML text: "2048", "zipf", "[4]"
};

/// Loads the scenario file (the built-in default when `file` is empty), sets each key to its
/// value and parses the result. Missing mappings on the way are created; a list element is
/// addressed by its index (`topology.tree.fan_out.1`); a `topology.*` key inlines a topology
/// given by name or path first. Errors (InputError) name the file, the settings and the key.
Scenario load_scenario_with_settings(const std::string& file, const std::vector<ScenarioSetting>& settings);

/// "key=value key=value": how a set of settings is named in messages and reports.
std::string describe_settings(const std::vector<ScenarioSetting>& settings);

}  // namespace comet
