// Helpers shared by the unit tests.
#pragma once

#include <string>

#include "builtin_files.hpp"
#include "scenario.hpp"
#include "topology_builders.hpp"
#include "yaml_input.hpp"

namespace comet::testing {

inline TopologySpec spec_from_yaml(const std::string& text) {
  return parse_topology_spec(load_yaml_text(text, "test.yaml"));
}

inline Topology topology_from_yaml(const std::string& text) { return build_topology(spec_from_yaml(text)); }

inline Topology shipped_topology(const std::string& name) { return build_topology(load_topology(name, ".")); }

/// A DGX-like node section with `gpus` GPUs and one 400 Gb/s NIC each.
inline std::string node_yaml(int gpus) {
  return "node: {gpus: " + std::to_string(gpus) +
         ", fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: " + std::to_string(gpus) +
         ", nic_bandwidth: 400Gbps, pcie_bandwidth: 64GB/s}\n";
}

/// A scenario's `topology:` section: 32 GPUs, four 8-GPU nodes, one leaf each under one spine.
inline const std::string FAT_TREE_32_TOPOLOGY = R"(topology:
  name: fat-tree-32
  kind: fat-tree
  node: {gpus: 8, fabric: nvswitch, gpu_link_bandwidth: 450GB/s, nics: 8, nic_bandwidth: 400Gbps, pcie_bandwidth: 64GB/s}
  fat_tree: {down: [8, 4], up: [1, 8]}
)";

}  // namespace comet::testing
