// A scenario: the cluster, the model, the parallel layout, the routing workload, and the
// policies to evaluate. The root of the data flow (Scenario -> Plan -> Executor -> Timeline).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "moe_model.hpp"
#include "policy_spec.hpp"
#include "topology_spec.hpp"
#include "workload_spec.hpp"
#include "yaml_input.hpp"

namespace comet {

struct Scenario {
  std::string name;
  std::string origin;          ///< file it came from, or "<built-in>/default"
  TopologySpec topology;
  MoeModel model;
  int expert_parallel = 1;     ///< GPUs in one expert-parallel group (EP)
  WorkloadSpec workload;
  std::vector<PolicySpec> placements;
  std::vector<PolicySpec> partitions;
  std::vector<PolicySpec> a2a;

  int num_gpus() const;
  int data_parallel() const { return num_gpus() / expert_parallel; }
  int experts_per_gpu() const { return model.experts / expert_parallel; }
};

/// Reads a scenario mapping. `base_dir` resolves relative paths (topology and trace files).
/// A `topology:` string is a shipped topology name (see topologies/) or a path; a mapping is
/// an inline topology. Throws InputError on any problem.
Scenario parse_scenario(const YamlValue& value, const std::filesystem::path& base_dir);

/// Loads a scenario file; errors name the file.
Scenario load_scenario_file(const std::filesystem::path& path);

/// The built-in default 1024-GPU scenario (scenarios/default.yaml compiled in).
Scenario default_scenario();

/// Loads a topology file or a shipped topology name.
TopologySpec load_topology(const std::string& name_or_path, const std::filesystem::path& base_dir);

/// What a YAML file holds: a scenario has `topology:`, a topology has `kind:`.
enum class FileKind { SCENARIO, TOPOLOGY };
FileKind detect_file_kind(const YamlValue& root);

}  // namespace comet
