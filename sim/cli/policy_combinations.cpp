#include "policy_combinations.hpp"

#include <algorithm>

#include "scenario_argument.hpp"
#include "yaml_input.hpp"

namespace comet {
namespace {

// Whether the scenario file has `policies: {<family>: ...}`; the built-in default lists all.
bool scenario_lists(const std::string& file, const char* family) {
  if (file.empty()) return true;
  const YamlValue root = load_yaml_file(file);
  const YAML::Node policies = root.node()["policies"];
  return policies && policies.IsMap() && policies[family];
}

std::vector<std::string> every_policy(const Scenario& scenario, PolicyFamily family) {
  switch (family) {
    case PolicyFamily::PLACEMENT: {
      std::vector<std::string> names{"contiguous", "strided", "topology", "bottleneck"};
      // replicate:R needs R spare expert slots in a group of at least two GPUs.
      if (scenario.expert_parallel >= 2 && std::min(scenario.expert_parallel, scenario.model.experts) >= 2)
        names.push_back("replicate:2");
      return names;
    }
    case PolicyFamily::PARTITION: return {"none", "fixed:4", "dynamic", "fine"};
    case PolicyFamily::A2A: return {"direct", "hierarchical"};
  }
  return {};
}

std::vector<PolicySpec> family_list(const Scenario& scenario, const std::string& file, PolicyFamily family,
                                    const char* option, const char* yaml_key, const std::vector<std::string>& given,
                                    const std::vector<PolicySpec>& listed) {
  std::vector<PolicySpec> specs;
  if (given.empty() && scenario_lists(file, yaml_key)) {
    specs = listed;
  } else {
    for (const std::string& name : given.empty() ? every_policy(scenario, family) : given)
      specs.push_back(policy_option(scenario, family, option, name));
  }
  std::vector<PolicySpec> unique;
  for (const PolicySpec& spec : specs)
    if (std::none_of(unique.begin(), unique.end(), [&](const PolicySpec& u) { return u.text() == spec.text(); }))
      unique.push_back(spec);
  return unique;
}

}  // namespace

bool same_policies(const PolicyTriple& a, const PolicyTriple& b) {
  return a.placement.text() == b.placement.text() && a.partition.text() == b.partition.text() &&
         a.a2a.text() == b.a2a.text();
}

std::vector<PolicyTriple> policy_combinations(const Scenario& scenario, const std::string& file,
                                              const PolicyLists& lists) {
  const auto placements = family_list(scenario, file, PolicyFamily::PLACEMENT, "--placements", "placement",
                                      lists.placements, scenario.placements);
  const auto partitions = family_list(scenario, file, PolicyFamily::PARTITION, "--partitions", "partition",
                                      lists.partitions, scenario.partitions);
  const auto a2a = family_list(scenario, file, PolicyFamily::A2A, "--a2a", "a2a", lists.a2a, scenario.a2a);
  std::vector<PolicyTriple> combinations;
  for (const PolicySpec& placement : placements)
    for (const PolicySpec& partition : partitions)
      for (const PolicySpec& algorithm : a2a) combinations.push_back({placement, partition, algorithm});
  return combinations;
}

}  // namespace comet
