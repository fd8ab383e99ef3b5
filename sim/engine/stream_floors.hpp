// The time side of streaming dependencies (Plan::add's `streaming`), the same in every engine: per
// op the earliest it may end (its last streaming producer's end, on its GPU, plus its streaming
// tail), and what a computation that reaches the end of its work does. DependencyRelease says
// when producers start and end; the engines apply these decisions with their own clocks.
#pragma once

#include <cstdint>
#include <vector>

#include "compute_streams.hpp"
#include "cost_model.hpp"
#include "dependency_release.hpp"
#include "plan.hpp"

namespace comet {

class StreamFloors {
 public:
  StreamFloors(const Plan& plan, const CostModel& model, const DependencyRelease& release);

  /// Op `op`'s last streaming producer ended at `now`: records its floor, now + its tail; returns it.
  double producers_ended(std::int32_t op, double now);
  /// The earliest `op` may end (-inf until its producers have ended).
  double floor(std::int32_t op) const { return floor_[op]; }
  /// Computation `op` reached the end of its work at `now`: the end it must take instead
  /// (HELD_END_S while a producer runs, its floor before that), or `now` when it ends now.
  double end_at(std::int32_t op, double now) const;
  /// A scheduled computation whose end stands at `end_s` once its producers ended: whether that
  /// end must become floor(op) (it was earlier, or held).
  bool must_move(std::int32_t op, double end_s) const { return end_s < floor_[op] || end_s >= HELD_END_S; }
  /// Whether all-to-all `op` must keep its parts from ending at `now`: a producer runs, or ended
  /// less than a tail ago.
  bool gated(std::int32_t op, double now) const { return release_.streams_pending(op) > 0 || now < floor_[op]; }

 private:
  const Plan& plan_;
  const CostModel& model_;
  const DependencyRelease& release_;
  std::vector<double> floor_;
};

}  // namespace comet
