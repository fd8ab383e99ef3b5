#include "fused_rank_order.hpp"

namespace comet {
namespace {

FusedMilestoneKey key(FusedMilestone milestone, const Op& op) { return {milestone, op.tags.layer, op.tags.step}; }

}  // namespace

std::optional<FusedMilestoneKey> milestone_reached(const Op& op) {
  const bool forward = op.tags.direction == Direction::FORWARD;
  switch (op.kind) {
    case OpKind::PERMUTE: return forward ? std::optional(key(FusedMilestone::SENT_FORWARD, op)) : std::nullopt;
    case OpKind::UNPERMUTE: return key(forward ? FusedMilestone::COMBINED_FORWARD : FusedMilestone::SENT_BACKWARD, op);
    case OpKind::EXPERT_GEMM:
      if (forward) return key(op.tags.stage == 0 ? FusedMilestone::PULLED_FORWARD : FusedMilestone::PUSHED_FORWARD, op);
      return op.tags.stage == 1 ? std::optional(key(FusedMilestone::PUSHED_BACKWARD, op)) : std::nullopt;
    default: return std::nullopt;
  }
}

std::optional<FusedMilestoneKey> milestone_awaited(const Op& op) {
  const bool forward = op.tags.direction == Direction::FORWARD;
  switch (op.kind) {
    case OpKind::PERMUTE: return forward ? std::nullopt : std::optional(key(FusedMilestone::PUSHED_BACKWARD, op));
    case OpKind::UNPERMUTE: return key(forward ? FusedMilestone::PUSHED_FORWARD : FusedMilestone::PULLED_FORWARD, op);
    case OpKind::EXPERT_GEMM:
      if (forward) return op.tags.stage == 0 ? std::optional(key(FusedMilestone::SENT_FORWARD, op)) : std::nullopt;
      return key(op.tags.stage == 0 ? FusedMilestone::SENT_BACKWARD : FusedMilestone::COMBINED_FORWARD, op);
    default: return std::nullopt;
  }
}

}  // namespace comet
