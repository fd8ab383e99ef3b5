// What the subcommands share about their SCENARIO argument and policy options.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "policy_spec.hpp"
#include "scenario.hpp"

namespace comet {

/// The scenario file, or the built-in default when `file` is empty.
Scenario load_scenario_argument(const std::string& file);
/// The YAML text of the same argument (the file's, or the built-in scenario's): what measured
/// files record so the Plans can be rebuilt elsewhere.
std::string scenario_argument_text(const std::string& file);

/// Parses a policy given on the command line; errors name the option. An empty `text` picks
/// the scenario's first policy of that family.
PolicySpec policy_option(const Scenario& scenario, PolicyFamily family, const std::string& option,
                         const std::string& text);

/// A comma-separated list option. A scenario file after the list stays the positional argument
/// (CLI11 would otherwise take it as one more list item).
CLI::Option* add_list_option(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                             const std::string& description);

/// The --placement, --partition and --a2a options that choose one policy triple.
struct PolicyOptions {
  std::string placement, partition, a2a;
  void add_to(CLI::App& app);
  /// The triple they name; an option not given takes the scenario's first policy of its family.
  PolicyTriple resolve(const Scenario& scenario) const;
};

}  // namespace comet
