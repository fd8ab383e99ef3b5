#include "expert_placement.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace comet {

ExpertPlacement::ExpertPlacement(std::string policy, int expert_parallel, std::vector<std::vector<int>> replicas)
    : policy_(std::move(policy)), expert_parallel_(expert_parallel), replicas_(std::move(replicas)),
      experts_on_(expert_parallel) {
  for (std::size_t e = 0; e < replicas_.size(); ++e) {
    const std::vector<int>& where = replicas_[e];
    if (where.empty()) throw std::invalid_argument(fmt::format("expert {} has no GPU", e));
    for (std::size_t i = 0; i < where.size(); ++i) {
      if (where[i] < 0 || where[i] >= expert_parallel)
        throw std::invalid_argument(fmt::format("expert {} on position {} outside the group", e, where[i]));
      if (std::count(where.begin(), where.end(), where[i]) > 1)
        throw std::invalid_argument(fmt::format("expert {} twice on position {}", e, where[i]));
      experts_on_[where[i]].push_back(static_cast<int>(e));
    }
  }
  for (const auto& experts : experts_on_) max_slots_ = std::max(max_slots_, static_cast<int>(experts.size()));
}

int ExpertPlacement::slot_of(int expert, int position) const {
  const std::vector<int>& experts = experts_on_[position];
  const auto it = std::find(experts.begin(), experts.end(), expert);
  return it == experts.end() ? -1 : static_cast<int>(it - experts.begin());
}

}  // namespace comet
