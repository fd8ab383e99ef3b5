// Who sends how many token copies to whom: a RoutingMatrix resolved through an ExpertPlacement.
// Pairs stay inside expert-parallel groups, so the exchange is N x EP, not N x N.
#pragma once

#include <cstdint>
#include <vector>

#include "expert_placement.hpp"
#include "routing_matrix.hpp"

namespace comet {

class TokenExchange {
 public:
  TokenExchange(int num_gpus, int expert_parallel, int max_slots);

  int num_gpus() const { return num_gpus_; }
  int expert_parallel() const { return expert_parallel_; }
  int max_slots() const { return max_slots_; }
  /// First GPU of the group holding `gpu`.
  int group_base(int gpu) const { return gpu - gpu % expert_parallel_; }

  /// Copies from `src` to the GPU at `position` of src's group.
  std::int64_t& pair(int src, int position) { return pairs_[index(src, position)]; }
  std::int64_t pair(int src, int position) const { return pairs_[index(src, position)]; }
  /// Copies GPU `gpu` computes for its local expert slot `slot`.
  std::int64_t& slot(int gpu, int slot) { return slots_[static_cast<std::size_t>(gpu) * max_slots_ + slot]; }
  std::int64_t slot(int gpu, int slot) const { return slots_[static_cast<std::size_t>(gpu) * max_slots_ + slot]; }

  std::int64_t total() const;
  /// Copies each GPU receives (and computes).
  std::vector<std::int64_t> received_per_gpu() const;

 private:
  std::size_t index(int src, int position) const {
    return static_cast<std::size_t>(src) * expert_parallel_ + position;
  }
  int num_gpus_, expert_parallel_, max_slots_;
  std::vector<std::int64_t> pairs_;
  std::vector<std::int64_t> slots_;
};

/// Resolves every source's copies to the GPUs holding the experts (replicas split evenly).
TokenExchange exchange_tokens(const RoutingMatrix& routing, const ExpertPlacement& placement);

}  // namespace comet
