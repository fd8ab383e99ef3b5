// What the subcommands share about their SCENARIO argument and policy options.
#pragma once

#include <optional>
#include <string>

#include "policy_spec.hpp"
#include "scenario.hpp"

namespace comet {

/// The scenario file, or the built-in default when `file` is empty.
Scenario load_scenario_argument(const std::string& file);

/// Parses a policy given on the command line; errors name the option. An empty `text` picks
/// the scenario's first policy of that family.
PolicySpec policy_option(const Scenario& scenario, PolicyFamily family, const std::string& option,
                         const std::string& text);

}  // namespace comet
