// The critical path of a Timeline: the chain of ops that decided when the run ended, walked back
// from the op that ends last through whichever predecessor ended last: a dependency of the Plan
// or the op before it on the same stream (ops of one stream wait for each other); an all-to-all
// counts until the part the next op waited for ended (Timeline::end_on). Every second
// of the run lies on it once, attributed to one of three causes:
//   compute      computation of the critical GPU (the GPU whose computation ends the path), or
//                of another GPU for as long as the critical GPU's own matching op took;
//   all-to-all   communication on the path;
//   imbalance    waiting for another GPU's computation beyond that: the hot expert's GEMMs on a
//                GPU that received more tokens than the critical GPU.
// The three add up to the makespan. Op times from measurements may overlap their predecessors'
// by rounding; each op is attributed the time from its predecessor's end (or its own start) to
// its end, so the sum still telescopes to the makespan.
#pragma once

#include <cstdint>
#include <vector>

#include "plan.hpp"
#include "timeline.hpp"

namespace comet {

enum class PathCause { COMPUTE, ALL_TO_ALL, IMBALANCE };
const char* to_string(PathCause cause);

/// One op on the path and the seconds it contributes to each cause.
struct PathStep {
  std::int32_t op = 0;
  double compute_s = 0.0, all_to_all_s = 0.0, imbalance_s = 0.0;
  double seconds() const { return compute_s + all_to_all_s + imbalance_s; }
};

/// The path's time of one layer direction of one step.
struct PathRow {
  int step = 0, layer = 0;
  Direction direction = Direction::FORWARD;
  double compute_s = 0.0, all_to_all_s = 0.0, imbalance_s = 0.0;
  double seconds() const { return compute_s + all_to_all_s + imbalance_s; }
};

struct CriticalPath {
  std::vector<PathStep> steps;  ///< in time order
  int gpu = 0;                  ///< the critical GPU
  double compute_s = 0.0, all_to_all_s = 0.0, imbalance_s = 0.0;
  std::vector<PathRow> rows;    ///< per (step, layer direction), in execution order
};

/// Empty path for an empty Timeline. `timeline` must be `plan`'s (same op ids).
CriticalPath critical_path(const Plan& plan, const Timeline& timeline);

}  // namespace comet
