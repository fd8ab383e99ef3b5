// How the rank threads of one validation run stop together: a barrier that gives up when a rank
// failed, the shared failure record (first root cause wins), the progress clock the watchdog
// reads, and the last resort that ends a process whose ranks stay blocked.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gpu_error.hpp"
#include "fused_rank_order.hpp"
#include "rank_resources.hpp"

namespace comet {

class LayerBuffers;

/// Where the ranks of one run meet before each repeat: threads of this process, or MPI processes.
class RankBarrier {
 public:
  virtual ~RankBarrier() = default;
  /// Returns when every rank arrived; throws GpuError("stopped: ...") once `failed` is set.
  virtual void arrive_and_wait(const std::atomic<bool>& failed) = 0;
};

// A barrier of this process's rank threads that gives up when another rank failed, so no
// thread waits forever.
class CancellableBarrier : public RankBarrier {
 public:
  explicit CancellableBarrier(int parties) : parties_(parties) {}
  void arrive_and_wait(const std::atomic<bool>& failed) override {
    std::unique_lock lock(mutex_);
    const long generation = generation_;
    if (++waiting_ == parties_) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    while (generation == generation_) {
      cv_.wait_for(lock, std::chrono::milliseconds(50));
      if (failed) throw GpuError("stopped: another rank failed");
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int parties_, waiting_ = 0;
  long generation_ = 0;
};

struct RunControl {
  /// `ranks` of the run; `activity` starts as `first_activity` for each (MPI: only this
  /// process's rank is known here, the others run elsewhere).
  explicit RunControl(int ranks, const std::string& first_activity = "starting")
      : resources(ranks, nullptr), fused_buffers(ranks, nullptr),
        fused_board(std::make_unique<MilestoneBoard<cudaEvent_t>>(ranks)), activity(ranks, first_activity) {}
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::string first_error;
  std::vector<RankResources*> resources;
  /// comet:B between GPUs (thread per GPU): each rank's buffers for the Plan it runs now, and the
  /// board of the milestones its launches are ordered by (fused_rank_order.hpp).
  std::vector<LayerBuffers*> fused_buffers;
  std::unique_ptr<MilestoneBoard<cudaEvent_t>> fused_board;

  /// Records the first root cause (not the "another rank failed" echoes) and stops every rank.
  void fail(const std::string& message, bool echo) {
    std::lock_guard lock(mutex);
    if (first_error.empty() || (first_is_echo && !echo)) {
      first_error = message;
      first_is_echo = echo;
    }
    failed = true;
  }
  bool first_is_echo = false;
  std::vector<std::string> activity;  ///< per rank: what it is doing now (for the watchdog's message)
  std::atomic<std::int64_t> last_progress_ns{now_ns()};

  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  /// A rank finished a step (or starts one): the watchdog's clock restarts.
  void progress(int rank, std::string what) {
    last_progress_ns = now_ns();
    std::lock_guard lock(mutex);
    activity[rank] = std::move(what);
  }

  /// Aborts every rank's communicators, so no NCCL kernel keeps waiting for a peer (and the
  /// device work queued behind it can drain before buffers are freed).
  void abort_all() {
    std::lock_guard lock(mutex);
    for (RankResources* r : resources)
      if (r) r->abort_communicators();
  }
};

/// Waits for `event` while watching for other ranks' failures, NCCL errors and the deadline;
/// throws GpuError (after aborting every communicator) on any of them.
void wait_with_watchdog(cudaEvent_t event, RankResources& res, RunControl& shared, double watchdog_s, const std::string& what);

/// Runs `rank_body(r)` for every r in `ranks_here`, each on its own thread, and joins them under
/// the watchdog (see run_control.cpp for the last resort). Throws GpuError with the first root
/// cause when a rank failed.
void run_rank_threads(const std::vector<int>& ranks_here, const std::function<void(int)>& rank_body,
                      const std::shared_ptr<RunControl>& owner, double watchdog_s);

}  // namespace comet
