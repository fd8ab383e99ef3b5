// An all-to-all alone on the network under per-flow max-min: the reference the in-step engines
// (`analytical`, `phase`) cannot reach by themselves on oversubscribed trees.
//
// Moving an op's transfers in step takes max over links of bytes / bandwidth, a bound that
// per-flow max-min reaches only while the op's most loaded link stays saturated. With skewed
// destinations on an oversubscribed tree it does not: flows into a hot GPU are held back by the
// leaf uplinks they share with the cold flows, the hot NIC idles early and is busy alone late, and
// the op takes 17% longer at 128 GPUs, 45% at 256 (docs/engines.md). Simulating the op alone on
// FluidNetwork over the flow engine's coalesced flows gives the longer duration and when each
// GPU's part ends; the in-step engines then pace the op to it (A2aFootprint::max_min_s).
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "flow_coalescing.hpp"

namespace comet {

struct MaxMinAlone {
  double duration_s = 0.0;  ///< from the first byte to the last (route latencies apart), seconds
  /// Per GPU of the coalesced op's `gpus`, in that order: when its last flow ends, seconds.
  std::vector<double> part_end_s;
};

/// Simulates `op`'s flows alone, every flow from time 0, over `coalescer`'s links at their full
/// (effective) bandwidth, on FluidNetwork with completion window `window` (flows end at most that
/// share of their duration early; every flow starts at 0, so the op's duration is at most that
/// share short). `routes` caches the coalescer's routes between calls (one per thread).
MaxMinAlone max_min_alone(const CoalescedOp& op, const FlowCoalescer& coalescer, double window,
                          std::map<std::pair<std::int32_t, std::int32_t>, std::vector<int>>& routes);

}  // namespace comet
