// Metrics of DESIGN.md, computed from a Timeline (and the Plan for traffic), defined once:
//   layer time      first op start -> last op end over all GPUs, per layer (forward + backward)
//   critical path   the chain of ops that decided the end (critical_path.hpp): its seconds in
//                   computation, all-to-all and imbalance (waiting for another GPU's
//                   computation), which add up to the makespan
//   critical GPU    the GPU whose computation ends the critical path
//   compute         busy time of the critical GPU's compute ops (union of intervals)
//   communication   busy time of the critical GPU in all-to-alls: from each op of its group
//                   starting to its part of it ending (Timeline::end_on; union)
//   imbalance       the critical path's wait for other GPUs' computation
//   exposed comm    makespan - compute - imbalance (the time the critical GPU waits for the
//                   network), at least 0
//   overlap ratio   1 - exposed / communication (clamped to [0, 1]; 1 when there is none)
//   idle fraction   1 - Σ compute busy / (GPUs x makespan)
//   bytes per tier  all-to-all bytes by the tier of each transfer's path
//   link load       bytes per link class; the most loaded link (the most bytes over its
//                   effective bandwidth: the longest it must carry traffic) and its utilisation
//                   against the bandwidth the engine let it carry (raw x link efficiency): mean
//                   over the run (bytes / (effective bandwidth x makespan)) and while busy
//                   (bytes / (effective bandwidth x the time an all-to-all using it was in
//                   flight)); against raw bandwidth when the Timeline does not say (measured)
#pragma once

#include <array>
#include <string>
#include <vector>

#include "critical_path.hpp"
#include "path_costs.hpp"
#include "plan.hpp"
#include "timeline.hpp"
#include "topology.hpp"

namespace comet {

struct Metrics {
  double makespan_s = 0.0;
  double layer_time_s = 0.0;
  double compute_s = 0.0;
  double comm_s = 0.0;
  double exposed_comm_s = 0.0;
  double imbalance_s = 0.0;
  double overlap_ratio = 1.0;
  double idle_fraction = 0.0;
  int critical_gpu = 0;
  std::array<double, NUM_TIERS> bytes_by_tier{};
  std::array<double, NUM_LINK_CLASSES> bytes_by_link_class{};
  std::string max_link;
  double max_link_bytes = 0.0;
  double max_link_mean_utilization = 0.0;  ///< over the run, against effective bandwidth
  double max_link_busy_utilization = 0.0;  ///< while it carried traffic, against effective bandwidth
  CriticalPath critical_path;
};

/// Metrics::layer_time_s on its own: the makespan over the Plan's layers x steps (what a baseline
/// run needs, without the critical path and the rest of compute_metrics).
double layer_time_s(const Plan& plan, const Timeline& t);

/// One row of the per-layer-direction table: the critical path's time in the layer direction
/// (span = its compute + all-to-all + imbalance), and the critical GPU's busy compute and its
/// group's busy communication there; exposed = span - compute - imbalance, at least 0.
struct PhaseRow {
  int step = 0, layer = 0;
  Direction direction = Direction::FORWARD;
  double span_s = 0.0, compute_s = 0.0, comm_s = 0.0, exposed_s = 0.0;
  double path_compute_s = 0.0, path_comm_s = 0.0, imbalance_s = 0.0;
};

Metrics compute_metrics(const Plan& plan, const Timeline& timeline, const Topology& topology, const PathCosts& costs);
std::vector<PhaseRow> phase_rows(const Timeline& timeline, const Metrics& metrics, int expert_parallel);

/// Length of the union of [start, end) intervals.
double union_length(std::vector<std::pair<double, double>> intervals);

}  // namespace comet
