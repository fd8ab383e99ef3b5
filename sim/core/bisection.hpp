// Bisection bandwidth: the most data per second that the first half of the GPUs (by index)
// can send to the second half at once, found as a maximum flow (Boost.Graph push-relabel)
// over the directed link capacities. GPU numbering is node-major and generators place
// consecutive nodes under the same switches, so this cut is the topology's natural bisection.
#pragma once

#include "topology.hpp"

namespace comet {

/// Bytes per second across the cut {GPU 0 .. N/2-1} -> {GPU N/2 .. N-1}; 0 with one GPU.
double bisection_bandwidth_Bps(const Topology& topology);

}  // namespace comet
