// Generators: turn a validated TopologySpec into a finalized Topology graph.
#pragma once

#include "topology.hpp"
#include "topology_spec.hpp"

namespace comet {

/// Builds the nodes and the network the spec describes and finalizes routing.
/// GPU g lives on node g / gpus_per_node; NICs are numbered node-major the same way.
Topology build_topology(const TopologySpec& spec);

}  // namespace comet
