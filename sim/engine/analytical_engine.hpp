// The analytical engine (no SimGrid; builds everywhere, including the GPU machines).
//
// A dependency-driven list schedule in simulated time. Compute ops run on their GPU's streams
// (compute_streams.hpp) for the cost model's duration, slowed by 1 / (1 - comm_sm_share) while a
// part of an all-to-all runs on their GPU (unless they run on reserved SMs). An all-to-all op
// first waits its start-up (longest path latency plus its per-message costs, startup_s), then
// moves its bytes as a fluid, all its transfers in step (one rate: fraction of its bytes per
// second). Concurrent all-to-alls share links max-min fair (progressive filling: every rate rises
// until a link fills, the ops crossing it stop there, the rest rise on what is left), so an op
// alone finishes after max over links of bytes / bandwidth (the phase bottleneck), two equal ops
// on one link take twice as long, and an op bottlenecked elsewhere leaves its share to the
// others. Each GPU's part ends when the op has moved the share its processor-sharing profile
// gives (A2aFootprint::parts); computations waiting for it start then (dependency_release.hpp).
// Rates are recomputed whenever an op starts or ends, and when a GPU's edge links change
// capacity because it starts or stops slowing its own transfers (transfer_slowdown.hpp) and that
// capacity binds. In step is a lower bound of per-flow max-min (docs/engines.md: 17% below it on
// a skewed 128-GPU 4:1 tree), so on oversubscribed trees ops are paced (a2a_footprint.hpp).
#pragma once

#include "executor.hpp"

namespace comet {

struct PacingProfiles;

struct AnalyticalOptions {
  /// Pacing profiles of another Plan of the same topology, cost model and routing that the run may
  /// reuse (a2a_footprint.hpp), or null.
  const PacingProfiles* shared_pacing = nullptr;
  /// Where the run leaves the pacing profiles it simulated, or null.
  PacingProfiles* made_pacing = nullptr;
  /// False: every GPU's part of an all-to-all ends with the op (as COMET_A2A_COMPLETION=group), and
  /// the footprints skip their per-GPU profiles, about half of a run's work: `dynamic` ranks its
  /// candidates so.
  bool per_gpu_completion = true;
};

class AnalyticalEngine : public Executor {
 public:
  explicit AnalyticalEngine(AnalyticalOptions options = {}) : options_(options) {}
  std::string name() const override { return "analytical"; }
  Timeline run(const Plan& plan, const Topology& topology, const CostModel& model) override;

 private:
  AnalyticalOptions options_;
};

}  // namespace comet
