// What one GPU did, read from the Timeline: its compute ops and the all-to-all ops of its
// expert-parallel group (an all-to-all is one op per group, so every GPU of the group shows it).
// Shared by the Gantt chart of the HTML report and the per-GPU tracks of the Perfetto trace.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "timeline.hpp"

namespace comet {

struct ActivityBar {
  std::int32_t op = 0;
  double start_s = 0.0, end_s = 0.0;
  bool communication = false;
  std::string name;  ///< compute: the op kind (expert_gemm, ...); all-to-all: the phase (dispatch, ...)
};

/// The GPU's compute ops and its group's all-to-all ops, in start order (ties by op id).
std::vector<ActivityBar> gpu_activity(const Timeline& timeline, int gpu, int expert_parallel);

/// Track assignment for intervals that may overlap: each goes to the first lane whose previous
/// interval has ended by its start, so no lane holds overlapping intervals (trace viewers need
/// properly nested slices per track). Returns each interval's lane.
std::vector<int> assign_lanes(const std::vector<std::pair<double, double>>& intervals);

/// When each GPU's last compute op ends (-1 for a GPU without any): orders GPUs for the traces.
std::vector<double> last_compute_end_by_gpu(const Timeline& timeline);

}  // namespace comet
