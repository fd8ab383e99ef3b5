// Which policy triples `comet compare` runs: the cross product of the --placements,
// --partitions and --a2a lists; a list not given is the scenario's own list for that family,
// or every policy of the family when the scenario file does not list that family.
#pragma once

#include <string>
#include <vector>

#include "policy_spec.hpp"
#include "scenario.hpp"

namespace comet {

struct PolicyLists {
  std::vector<std::string> placements, partitions, a2a;  ///< as given on the command line
};

/// In placement, partition, a2a order (the last varies fastest), without duplicates. Unknown
/// or malformed names are InputErrors naming the option.
std::vector<PolicyTriple> policy_combinations(const Scenario& scenario, const std::string& scenario_file,
                                              const PolicyLists& lists);

/// Same policy names in all three families.
bool same_policies(const PolicyTriple& a, const PolicyTriple& b);

}  // namespace comet
