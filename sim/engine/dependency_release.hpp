// Which ops a finished op makes ready, the same in every simulated engine.
//
// An all-to-all ends per GPU, as NCCL's grouped send/receive does: a rank's call returns when its
// own sends and receives are done. So a computation on GPU g that waits for an all-to-all is
// released when g's part of it ends; what waits for the whole group (the next stage or chunk of
// the group's all-to-all stream, a computation on a GPU outside the op) when the op ends.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "cost_model.hpp"
#include "plan.hpp"
#include "timeline.hpp"

namespace comet {

/// Whether engines end all-to-alls per GPU: yes unless COMET_A2A_COMPLETION=group (every part
/// ends with the whole op, as before 2026-12-03), a knob for measuring what per-GPU completion
/// changes (docs/engines.md), not for users. Any other value than "per-gpu" or "group" is an
/// InputError.
bool per_gpu_completion();

/// Sets TimelineOp::ended_by_stream on the ops of `timeline` that streamed (Plan::add's
/// `streaming`) and ended at their producers' end (on their GPU) plus their streaming tail, as
/// every engine holds them, and for such computations stream_wait_s; engines call it once their
/// times are final.
void mark_ends_by_stream(const Plan& plan, const CostModel& model, Timeline& timeline);

class DependencyRelease {
 public:
  explicit DependencyRelease(const Plan& plan);

  /// Ops without dependencies, in id order.
  std::vector<std::int32_t> roots() const;
  /// Op `op` started: appends the ops streaming from it that it makes ready to `ready`.
  void started(std::int32_t op, std::vector<std::int32_t>& ready);
  /// Whether any op streams from `op` (its actual start matters, not when it was scheduled).
  bool streamed_from(std::int32_t op) const { return !streamers_.of(op).empty(); }
  /// Streaming producers of `op` that have not ended yet (on its GPU).
  int streams_pending(std::int32_t op) const { return streams_pending_[op]; }
  /// The ops whose last streaming producer ended since the last call (they may now end, after
  /// their streaming tail); cleared by the call.
  std::vector<std::int32_t> take_stream_ends() { return std::exchange(stream_ends_, {}); }
  /// Computation `op` ended: appends the ops it makes ready to `ready`.
  void computation_done(std::int32_t op, std::vector<std::int32_t>& ready);
  /// GPU `gpu`'s part of all-to-all `op` ended: appends the computations on `gpu` it makes ready.
  void part_done(std::int32_t op, std::int32_t gpu, std::vector<std::int32_t>& ready);
  /// All-to-all `op`, over the sorted `gpus`, ended. When `parts_released`, part_done was called
  /// for each of `gpus` before and only the rest is released; otherwise everything is (an engine
  /// that knows only the whole op's end).
  void all_to_all_done(std::int32_t op, std::span<const std::int32_t> gpus, bool parts_released,
                       std::vector<std::int32_t>& ready);

 private:
  void release(std::int32_t next, std::vector<std::int32_t>& ready) {
    if (--pending_[next] == 0) ready.push_back(next);
  }
  void stream_ended(std::int32_t next) {
    if (--streams_pending_[next] == 0) stream_ends_.push_back(next);
  }
  /// Calls act(successor) for the successors of all-to-all `op` in `successors` on `gpu`.
  template <class Act>
  void on_gpu(const Successors& successors, std::int32_t op, std::int32_t gpu, Act act);
  /// Calls act(successor) for those not released by parts already (all_to_all_done).
  template <class Act>
  void rest(const Successors& successors, std::int32_t op, std::span<const std::int32_t> gpus, bool parts_released, Act act);

  const Plan& plan_;
  Successors successors_;  ///< an all-to-all's successors sorted by their GPU (all-to-alls, -1, first)
  Successors streamers_;   ///< who streams from each op, sorted alike
  std::vector<int> pending_;
  std::vector<int> streams_pending_;
  std::vector<std::int32_t> stream_ends_;
};

}  // namespace comet
