#include "scenario_argument.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "builtin_files.hpp"
#include "input_error.hpp"

namespace comet {

Scenario load_scenario_argument(const std::string& file) {
  if (file.empty()) return default_scenario();
  // A shipped scenario's name ("fat-tree-10240") works from any directory; a file of that name wins.
  if (!path_exists(file))
    if (const auto builtin = find_builtin_scenario(file))
      return parse_scenario(load_yaml_text(std::string(builtin->text), fmt::format("<built-in>/scenarios/{}.yaml", file)), ".");
  return load_scenario_file(file);
}

std::string scenario_argument_text(const std::string& file) {
  if (file.empty() || !path_exists(file)) {
    if (const auto builtin = find_builtin_scenario(file.empty() ? DEFAULT_SCENARIO : file)) return std::string(builtin->text);
  }
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

PolicySpec policy_option(const Scenario& scenario, PolicyFamily family, const std::string& option,
                         const std::string& text) {
  if (text.empty()) {
    switch (family) {
      case PolicyFamily::PLACEMENT: return scenario.placements.front();
      case PolicyFamily::PARTITION: return scenario.partitions.front();
      case PolicyFamily::A2A: return scenario.a2a.front();
    }
  }
  try {
    return parse_policy(family, text);
  } catch (const std::invalid_argument& error) {
    throw InputError({"<command line>", 0, 0}, option, text, error.what());
  }
}

void PolicyOptions::add_to(CLI::App& app) {
  app.add_option("--placement", placement, fmt::format("{} (default: the scenario's first)", policy_choices(PolicyFamily::PLACEMENT)));
  app.add_option("--partition", partition, fmt::format("{} (default: the scenario's first)", policy_choices(PolicyFamily::PARTITION)));
  app.add_option("--a2a", a2a, fmt::format("{} (default: the scenario's first)", policy_choices(PolicyFamily::A2A)));
}

PolicyTriple PolicyOptions::resolve(const Scenario& scenario) const {
  return {policy_option(scenario, PolicyFamily::PLACEMENT, "--placement", placement),
          policy_option(scenario, PolicyFamily::PARTITION, "--partition", partition),
          policy_option(scenario, PolicyFamily::A2A, "--a2a", a2a)};
}

CLI::Option* add_list_option(CLI::App& app, const std::string& name, std::vector<std::string>& values,
                             const std::string& description) {
  return app.add_option(name, values, description)->delimiter(',')->allow_extra_args(false);
}

}  // namespace comet
