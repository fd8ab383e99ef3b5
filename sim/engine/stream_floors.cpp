#include "stream_floors.hpp"

#include <limits>

#include "op_costs.hpp"

namespace comet {

StreamFloors::StreamFloors(const Plan& plan, const CostModel& model, const DependencyRelease& release)
    : plan_(plan), model_(model), release_(release), floor_(plan.ops().size(), -std::numeric_limits<double>::infinity()) {}

double StreamFloors::producers_ended(std::int32_t op, double now) {
  return floor_[op] = now + streaming_tail_s(plan_, plan_.ops()[op], model_);
}

double StreamFloors::end_at(std::int32_t op, double now) const {
  if (release_.streams_pending(op) > 0) return HELD_END_S;
  return now < floor_[op] ? floor_[op] : now;
}

}  // namespace comet
