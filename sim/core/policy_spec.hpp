// Names of the three policy families as written in scenarios and on the command line:
// placement (contiguous | strided | topology | bottleneck | replicate:R),
// partition (none | fixed:K | tapered:K | dynamic | fine), all-to-all (direct | hierarchical).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace comet {

enum class PolicyFamily { PLACEMENT, PARTITION, A2A };
std::string_view to_string(PolicyFamily family);

struct PolicySpec {
  PolicyFamily family = PolicyFamily::PLACEMENT;
  std::string name;   ///< "fixed", "replicate", "direct", ...
  int parameter = 0;  ///< K of fixed:K, R of replicate:R; 0 when the policy takes none

  /// The canonical text: "fixed:4", "topology".
  std::string text() const;
};

/// Parses one policy name of `family`. Throws std::invalid_argument with a message listing the
/// accepted names when the text is unknown or its parameter is missing, not a whole number, or < 1.
PolicySpec parse_policy(PolicyFamily family, std::string_view text);

/// The accepted forms of a family, for help texts and errors: "none, fixed:K, tapered:K, dynamic, fine".
std::string policy_choices(PolicyFamily family);

/// The baseline every speedup is measured against.
struct PolicyTriple {
  PolicySpec placement, partition, a2a;
};
PolicyTriple baseline_policies();

}  // namespace comet
