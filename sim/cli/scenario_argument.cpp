#include "scenario_argument.hpp"

#include "input_error.hpp"

namespace comet {

Scenario load_scenario_argument(const std::string& file) {
  return file.empty() ? default_scenario() : load_scenario_file(file);
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

}  // namespace comet
