// What `comet check` reports about a topology and (for scenarios) the model and workload.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "scenario.hpp"
#include "topology.hpp"
#include "topology_spec.hpp"

namespace comet {

struct ClusterSummary {
  std::string name;
  std::string kind;
  std::string gpu_model;
  int gpus = 0;
  int nodes = 0;
  int gpus_per_node = 0;
  int switches = 0;  ///< network switches
  std::array<int, 7> vertices_by_kind{};
  std::array<int, NUM_LINK_CLASSES> links_by_class{};
  double bisection_Bps = 0.0;
  PathInfo farthest;  ///< path from GPU 0 to the last GPU
};

ClusterSummary summarize_cluster(const TopologySpec& spec, const Topology& topology);

/// The `--json` object: cluster keys, plus model / parallelism / workload / policies when a
/// scenario is given.
nlohmann::ordered_json summary_json(const ClusterSummary& cluster, const Scenario* scenario);

/// The terminal form: a `#` preamble, then aligned `key value` lines per section.
std::string summary_text(const std::string& source, const ClusterSummary& cluster,
                         const Scenario* scenario);

}  // namespace comet
