// Interference of computation on communication, one definition for every engine.
//
// While a computation on full SMs runs (or is queued) on a GPU's compute stream and one of its
// all-to-all parts runs, its communication kernels have fewer SMs and less memory bandwidth:
// the GPU moves data at (1 - comm_slowdown_with_compute) of what its edge can carry. Modelled as
// capacity: the directed links at the GPU's edge (out of it and into it) carry that share of
// their segment's bandwidth, the segment being the link itself and, where the link joins the GPU
// to its own NIC, the NIC's link to its leaf as well (the GPU feeds the NIC; slowing the faster
// PCIe hop alone would change nothing). So a busy GPU slows its own transfers, and the group's
// all-to-all only where that GPU is its bottleneck: not every busy GPU slows the whole group's
// collective. Computations on reserved SMs (fine-grained overlap) leave communication its SMs and
// do not slow it. ComputeStreams::refresh_transfer_slowdown says when a GPU's state changes.
#pragma once

#include <cstdint>
#include <vector>

#include "cost_model.hpp"
#include "topology.hpp"

namespace comet {

/// A directed link at a GPU's edge and the bandwidth (bytes/s) it carries while the GPU's
/// transfers are slowed.
struct EdgeLink {
  std::int32_t link = 0;
  double slowed_Bps = 0.0;
};

/// Per GPU, its edge links (out of it, then into it), for the cost model's effective bandwidths.
std::vector<std::vector<EdgeLink>> gpu_edge_links(const Topology& topology, const CostModel& model);

}  // namespace comet
