// What a topology file says, after validation: the node design and one cluster layout.
// See docs/file-formats.md for the YAML schema; topology_builders.hpp turns a spec into a
// Topology graph.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "topology.hpp"
#include "yaml_input.hpp"

namespace comet {

enum class TopologyKind { NODE, TREE, FAT_TREE, RAIL_OPTIMIZED };
std::string_view to_string(TopologyKind kind);

enum class NodeFabric { NVSWITCH, PCIE };

/// One server: GPUs joined by an NVSwitch (or a PCIe switch), and NICs to the network.
struct NodeSpec {
  int gpus = 8;
  NodeFabric fabric = NodeFabric::NVSWITCH;
  double gpu_link_Bps = 450e9;  ///< per GPU per direction to the fabric (NVLink or PCIe)
  int nics = 8;                 ///< GPU g uses NIC g * nics / gpus
  double nic_Bps = 50e9;        ///< per NIC per direction (400 Gb/s)
  double pcie_Bps = 64e9;       ///< GPU <-> NIC (PCIe Gen5 x16) per direction
  std::string gpu_model = "h100-sxm";
};

/// A multi-level tree: level 1 (leaf) switches take `fan_out[0]` nodes, each higher switch
/// `fan_out[l]` switches of the level below, one uplink per switch. Uplink bandwidth is the
/// switch's total downlink bandwidth divided by `oversubscription[l]` (one fewer than levels).
struct TreeSpec {
  std::vector<int> fan_out;
  std::vector<double> oversubscription;
};

/// An extended generalized fat-tree XGFT(h; down; up), hosts being NICs: a level-l switch has
/// `down[l-1]` children and a level-(l-1) vertex `up[l-1]` parents (up[0] = 1: one leaf per NIC).
/// The k-ary 3-tier fat-tree is down = [k/2, k/2, k], up = [1, k/2, k/2]. The uplink bandwidth
/// of level l gives the level's `oversubscription[l-1]` (downlink capacity / uplink capacity).
struct FatTreeSpec {
  std::vector<int> down;
  std::vector<int> up;
  std::vector<double> oversubscription;
};

/// Rail-optimized: NIC r of every node on a leaf of rail r; `nodes_per_leaf` consecutive nodes
/// share a leaf per rail; every leaf has one uplink to each of `spines` spines.
struct RailSpec {
  int nodes = 0;
  int nodes_per_leaf = 0;
  int spines = 0;
  double oversubscription = 1.0;
};

struct TopologySpec {
  std::string name;
  std::string origin;  ///< file the spec came from, for messages
  TopologyKind kind = TopologyKind::NODE;
  NodeSpec node;
  std::array<double, NUM_LINK_CLASSES> latency_s{0.5e-6, 0.5e-6, 1e-6, 0.5e-6, 0.5e-6, 0.5e-6};
  TreeSpec tree;
  FatTreeSpec fat_tree;
  RailSpec rail;
};

/// Reads a topology mapping (a topology file's top level, or an inline `topology:` in a
/// scenario). Throws InputError for any missing, unknown or invalid key.
TopologySpec parse_topology_spec(const YamlValue& value);

}  // namespace comet
