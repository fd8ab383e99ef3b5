// The analytical engine (no SimGrid; builds everywhere, including the GPU machines).
//
// A dependency-driven list schedule in simulated time. Compute ops run one at a time per GPU in
// the order they become ready, for the cost model's duration; one started while an all-to-all
// involving its GPU is active is slowed by 1 / (1 - comm_sm_share) (unless it already runs on
// reserved SMs). An all-to-all op first waits its longest path latency, then moves its bytes as a
// fluid: on every link, concurrent all-to-alls share the effective bandwidth in proportion to
// their bytes, so an op alone finishes after max over links of bytes / bandwidth (the phase
// bottleneck), and two equal ops on one link take twice as long. Rates are recomputed whenever
// an op starts or ends, less comm_slowdown_with_compute while GEMMs run on its GPUs.
#pragma once

#include "executor.hpp"

namespace comet {

class AnalyticalEngine : public Executor {
 public:
  std::string name() const override { return "analytical"; }
  Timeline run(const Plan& plan, const Topology& topology, const CostModel& model) override;
};

}  // namespace comet
