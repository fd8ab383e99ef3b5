// Where the ranks of a `comet:B` run between GPUs wait for each other. A fused launch reads every
// source rank's send buffer and writes every source's combine buffer through peer pointers, so
// besides each rank's own stream order these cross-rank orders must hold (one chunk: one staging
// slot, whose send buffer carries x rows forward and gated dy rows backward, and whose combine
// buffer gets y rows forward and dx rows backward):
//   forward  first launch (pulls x)       after every rank's forward permute (x into its send buffer)
//   forward  unpermute (reads y)          after every rank's forward second launch (pushes y)
//   backward send op (dy over x)          after every rank's forward first launch (done reading x)
//   backward first launch (pulls dy)      after every rank's backward send op
//   backward second launch (pushes dx)    after every rank's forward unpermute (done reading y)
//   backward permute (reads dx)           after every rank's backward second launch
// A rank reaches a milestone when the op marking it ends on its GPU; an op that must wait for a
// milestone waits for every rank's event of it (cudaStreamWaitEvent on the other GPUs' events).
// The events are re-recorded each run, so a rank waits on the host until every rank has recorded
// this run's (MilestoneBoard) before it enqueues the wait. Every milestone an op waits for is
// reached by ops earlier in the Plan, which every rank enqueues in Plan order, so no rank waits on
// the host for a rank that waits for it (tests/fused_rank_order_test.cpp checks it on Plans).
// Runs and Plans are apart: every rank's run ends before any rank resets or frees its buffers
// (rank_task.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <compare>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "plan.hpp"

namespace comet {

enum class FusedMilestone {
  SENT_FORWARD,       ///< x rows in the send buffer
  PULLED_FORWARD,     ///< the forward first launch read every source's x rows
  PUSHED_FORWARD,     ///< the forward second launch wrote every source's y rows
  COMBINED_FORWARD,   ///< the forward unpermute read the y rows
  SENT_BACKWARD,      ///< gated dy rows in the send buffer
  PUSHED_BACKWARD,    ///< the backward second launch wrote every source's dx rows
};

struct FusedMilestoneKey {
  FusedMilestone milestone = FusedMilestone::SENT_FORWARD;
  std::int32_t layer = 0, step = 0;
  auto operator<=>(const FusedMilestoneKey&) const = default;
};

/// The milestone this rank reaches when `op` (one of its ops in a comet:B Plan) ends, if any.
std::optional<FusedMilestoneKey> milestone_reached(const Op& op);
/// The milestone every rank must have reached before `op` starts, if any.
std::optional<FusedMilestoneKey> milestone_awaited(const Op& op);

/// Where ranks (threads of one process) post the events marking their milestones, run by run.
template <class Event>
class MilestoneBoard {
 public:
  explicit MilestoneBoard(int ranks) : ranks_(ranks) {}

  /// Rank `rank` reached `key` in run `run` (the same run numbers on every rank), marked by `event`.
  void publish(std::uint64_t run, const FusedMilestoneKey& key, int rank, Event event) {
    {
      std::lock_guard lock(mutex_);
      Entry& entry = entries_[{run, key}];
      if (entry.events.empty()) entry.events.assign(static_cast<std::size_t>(ranks_), Event{});
      entry.events.at(static_cast<std::size_t>(rank)) = event;
      ++entry.posted;
    }
    cv_.notify_all();
  }

  /// Every rank's event of `key` in run `run`, once all have published it. Throws
  /// std::runtime_error("stopped: ...") once `failed` is set (another rank failed: never a hang).
  std::vector<Event> wait_all(std::uint64_t run, const FusedMilestoneKey& key, const std::atomic<bool>& failed) {
    std::unique_lock lock(mutex_);
    for (;;) {
      const auto found = entries_.find({run, key});
      if (found != entries_.end() && found->second.posted == ranks_) return found->second.events;
      if (failed) throw std::runtime_error("stopped: another rank failed");
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }

  /// Forgets the runs before `run` (every rank is past them).
  void forget_before(std::uint64_t run) {
    std::lock_guard lock(mutex_);
    entries_.erase(entries_.begin(), entries_.lower_bound({run, FusedMilestoneKey{}}));
  }

 private:
  struct Entry {
    std::vector<Event> events;
    int posted = 0;
  };
  int ranks_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::pair<std::uint64_t, FusedMilestoneKey>, Entry> entries_;
};

}  // namespace comet
