#include "run_control.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

namespace comet {

void wait_with_watchdog(cudaEvent_t event, RankResources& res, RunControl& shared, double watchdog_s, const std::string& what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(watchdog_s);
  while (true) {
    const cudaError_t state = cudaEventQuery(event);
    if (state == cudaSuccess) return;
    if (state != cudaErrorNotReady) check_cuda(state, what);
    if (shared.failed) {
      shared.abort_all();
      throw GpuError("stopped: another rank failed");
    }
    if (const ncclResult_t error = res.async_error(); error != ncclSuccess) {
      shared.abort_all();
      check_nccl(error, what);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      shared.abort_all();
      throw GpuError(fmt::format("watchdog: rank {} (GPU {}) made no progress in {} for {:.0f} s; a peer stopped answering. "
                                 "The NCCL communicators were aborted",
                                 res.rank, res.device, what, watchdog_s));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

// Joins the rank threads, watching them: when no rank has made progress for `watchdog_s`
// (a rank blocked in a CUDA or NCCL call never reaches its own deadline check, e.g. NCCL
// connecting to a peer that never answers), it records the error and aborts every
// communicator. That should let every rank finish; if one still does not within STOP_GRACE_S
// (a kernel that ignores the abort, a driver call that never returns), the process cannot be
// cleaned up from here: report and leave with the GPU-failure exit code, the last resort that
// guarantees no hang.
constexpr double STOP_GRACE_S = 10.0;

namespace {

void wait_or_exit(std::vector<std::thread>& threads, const std::atomic<int>& finished, const std::shared_ptr<RunControl>& owner,
                  double watchdog_s) {
  RunControl& shared = *owner;
  std::optional<std::chrono::steady_clock::time_point> failed_at;
  while (finished < static_cast<int>(threads.size())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const double idle_s = static_cast<double>(RunControl::now_ns() - shared.last_progress_ns) * 1e-9;
    if (!shared.failed && idle_s > watchdog_s) {
      std::string where;
      {
        std::lock_guard lock(shared.mutex);
        for (std::size_t r = 0; r < shared.activity.size(); ++r)
          where += fmt::format("{}rank {}: {}", r ? "; " : "", r, shared.activity[r]);
      }
      shared.fail(fmt::format("watchdog: no rank made progress for {:.0f} s ({}); a peer stopped answering. The NCCL "
                              "communicators were aborted",
                              watchdog_s, where),
                  false);
      // From another thread: an abort may itself block on a stuck rank, and this one must keep
      // its clock for the last resort below.
      std::thread([owner] { owner->abort_all(); }).detach();  // owns `shared`: it may outlive this call
    }
    if (!shared.failed) continue;
    if (!failed_at) failed_at = std::chrono::steady_clock::now();
    if (std::chrono::steady_clock::now() - *failed_at > std::chrono::duration<double>(STOP_GRACE_S)) {
      std::unique_lock lock(shared.mutex, std::try_to_lock);  // a blocked abort may hold it
      std::fprintf(stderr, "comet: GPU error: %s\ncomet: ranks still blocked %.0f s after the communicators were aborted; exiting\n",
                   lock.owns_lock() ? shared.first_error.c_str() : "watchdog: a rank stopped answering", STOP_GRACE_S);
      std::fflush(stderr);
      std::_Exit(EXIT_GPU_FAILURE);
    }
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace

void run_rank_threads(const std::vector<int>& ranks_here, const std::function<void(int)>& rank_body,
                      const std::shared_ptr<RunControl>& owner, double watchdog_s) {
  RunControl& shared = *owner;
  std::vector<std::thread> threads;
  std::atomic<int> finished{0};
  for (int r : ranks_here)
    threads.emplace_back([&, r] {
      try {
        rank_body(r);
      } catch (const std::exception& error) {
        const std::string message = error.what();
        shared.fail(fmt::format("rank {}: {}", r, message), message.rfind("stopped:", 0) == 0);
      }
      ++finished;
    });
  wait_or_exit(threads, finished, owner, watchdog_s);
  // Prefer the root cause over the "another rank failed" echoes.
  if (shared.failed) throw GpuError(shared.first_error);
}

}  // namespace comet
