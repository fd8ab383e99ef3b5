// Where experts live: every expert-parallel (EP) group of `expert_parallel` consecutive GPUs
// holds all experts, each on one or more positions (GPU index within the group). The same
// local layout is used by every group, as a deployment would.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace comet {

class ExpertPlacement {
 public:
  /// `replicas[e]` lists the positions holding expert e (first = primary). Throws
  /// std::invalid_argument if an expert has no replica, a position is out of range or repeated.
  ExpertPlacement(std::string policy, int expert_parallel, std::vector<std::vector<int>> replicas);

  const std::string& policy() const { return policy_; }
  int expert_parallel() const { return expert_parallel_; }
  int num_experts() const { return static_cast<int>(replicas_.size()); }
  const std::vector<int>& replicas(int expert) const { return replicas_[expert]; }
  /// Experts held at a position, in local slot order.
  const std::vector<int>& experts_on(int position) const { return experts_on_[position]; }
  int max_slots_per_gpu() const { return max_slots_; }
  /// The local slot of `expert` on `position`, or -1.
  int slot_of(int expert, int position) const;
  /// Whether `other` puts every expert on the same positions (whatever the policies' names).
  bool same_positions(const ExpertPlacement& other) const {
    return expert_parallel_ == other.expert_parallel_ && replicas_ == other.replicas_;
  }

  /// Copies of `copies` sent to replica `index` of `count`: an even split, the first replicas
  /// taking the remainder, so the parts add up exactly.
  static std::int64_t replica_share(std::int64_t copies, int index, int count) {
    return copies / count + (index < copies % count ? 1 : 0);
  }

 private:
  std::string policy_;
  int expert_parallel_;
  std::vector<std::vector<int>> replicas_;
  std::vector<std::vector<int>> experts_on_;
  int max_slots_ = 0;
};

}  // namespace comet
