#include "real_executor.hpp"

#include <fmt/format.h>
#include <nvtx3/nvToolsExt.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "gpu_error.hpp"
#include "rank_resources.hpp"

namespace comet {
namespace {

// A barrier that gives up when another rank failed, so no thread waits forever.
class CancellableBarrier {
 public:
  explicit CancellableBarrier(int parties) : parties_(parties) {}
  void arrive_and_wait(const std::atomic<bool>& failed) {
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

struct Shared {
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::string first_error;
  std::vector<RankResources*> resources;

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

  /// Aborts every rank's communicators, so no NCCL kernel keeps waiting for a peer (and the
  /// device work queued behind it can drain before buffers are freed).
  void abort_all() {
    std::lock_guard lock(mutex);
    for (RankResources* r : resources)
      if (r) r->abort_communicators();
  }
};

// Waits for `event` while watching for other ranks' failures, NCCL errors and the deadline.
void wait_with_watchdog(cudaEvent_t event, RankResources& res, Shared& shared, double watchdog_s, const std::string& what) {
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

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct RankResult {
  // [job][repeat][op] -> (start, end)
  std::vector<std::vector<std::vector<std::pair<double, double>>>> times;
  std::vector<std::vector<float>> output, input_gradient;
};

std::int64_t stand_in_columns(const LayerDims& dims) { return dims.hidden; }

void run_rank(int rank, const std::vector<RealJob>& jobs, const LayerDims& dims, int ranks, const RealRunOptions& options,
              const ncclUniqueId& id_a, const ncclUniqueId& id_b, Shared& shared, CancellableBarrier& barrier,
              RankResult& result) {
  RankResources res(rank, rank, ranks, id_a, id_b, options.comm);
  {
    std::lock_guard lock(shared.mutex);
    shared.resources[rank] = &res;
  }
  // Declared outside the try: on failure they must outlive the abort of the communicators
  // (freeing device memory waits for the device, and a stuck NCCL kernel would never finish).
  std::optional<LayerBuffers> buffers_slot;
  std::optional<RankRunner> runner_slot;
  try {
    for (const RealJob& job : jobs) {
      runner_slot.reset();
      LayerBuffers& buffers = buffers_slot.emplace(*job.layout, rank, dims, DataSeeds{options.seed}, stand_in_columns(dims));
      RankRunner& runner = runner_slot.emplace(*job.plan, *job.layout, dims, res, buffers, job.compute_sm_fraction,
                                               stand_in_columns(dims), options.fault);
      std::vector<std::vector<std::pair<double, double>>> times;
      for (int i = 0; i < options.warmup + options.repeats; ++i) {
        buffers.reset_and_poison(res.compute);
        check_cuda(cudaStreamSynchronize(res.compute), "prepare buffers");
        barrier.arrive_and_wait(shared.failed);  // ranks start each repeat together
        const std::string range = fmt::format("{} run {}", job.name, i);
        nvtxRangePushA(range.c_str());
        const cudaEvent_t done = runner.enqueue();
        wait_with_watchdog(done, res, shared, options.watchdog_s, fmt::format("policy {} run {}", job.name, i));
        nvtxRangePop();
        if (i >= options.warmup) times.push_back(runner.op_times());
      }
      result.times.push_back(std::move(times));
      result.output.push_back(buffers.out.download());
      result.input_gradient.push_back(buffers.dx.download());
    }
    barrier.arrive_and_wait(shared.failed);
  } catch (const std::exception& error) {
    const std::string message = error.what();
    shared.fail(fmt::format("rank {}: {}", rank, message), message.rfind("stopped:", 0) == 0);
    // Stop every rank: abort all communicators so no NCCL kernel keeps waiting for this one.
    shared.abort_all();
    {
      std::lock_guard lock(shared.mutex);
      shared.resources[rank] = nullptr;
    }
    runner_slot.reset();
    buffers_slot.reset();
    throw;
  }
  std::lock_guard lock(shared.mutex);
  shared.resources[rank] = nullptr;
}

Timeline merge_ranks(const RealJob& job, const std::vector<RankResult>& ranks, std::size_t job_index) {
  Timeline timeline = timeline_for(*job.plan, "real");
  const std::size_t repeats = ranks[0].times[job_index].size();
  for (const Op& op : job.plan->ops()) {
    std::vector<double> starts, ends;
    for (std::size_t rep = 0; rep < repeats; ++rep) {
      double start = 1e300, end = -1e300;
      for (const RankResult& r : ranks) {
        const auto [s, e] = r.times[job_index][rep][op.id];
        if (s < 0) continue;
        start = std::min(start, s);
        end = std::max(end, e);
      }
      if (end < 0) continue;
      starts.push_back(start);
      ends.push_back(end);
    }
    if (starts.empty()) continue;
    timeline.ops[op.id].start_s = median(starts);
    timeline.ops[op.id].end_s = std::max(timeline.ops[op.id].start_s, median(ends));
  }
  return timeline;
}

}  // namespace

int visible_gpu_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::vector<RealMeasurement> run_on_gpus(const std::vector<RealJob>& jobs, const LayerDims& dims, int ranks,
                                         const RealRunOptions& options) {
  ncclUniqueId id_a{}, id_b{};
  check_nccl(ncclGetUniqueId(&id_a), "create NCCL id");
  check_nccl(ncclGetUniqueId(&id_b), "create NCCL id");
  Shared shared;
  shared.resources.assign(ranks, nullptr);
  CancellableBarrier barrier(ranks);
  std::vector<RankResult> results(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        run_rank(r, jobs, dims, ranks, options, id_a, id_b, shared, barrier, results[r]);
      } catch (const std::exception& error) {
        const std::string message = error.what();
        shared.fail(fmt::format("rank {}: {}", r, message), message.rfind("stopped:", 0) == 0);
      }
    });
  for (std::thread& t : threads) t.join();
  if (shared.failed) {
    // Prefer the root cause over the "another rank failed" echoes.
    throw GpuError(shared.first_error);
  }
  std::vector<RealMeasurement> out;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    RealMeasurement m;
    m.timeline = merge_ranks(jobs[j], results, j);
    for (const RankResult& r : results) {
      m.output.insert(m.output.end(), r.output[j].begin(), r.output[j].end());
      m.input_gradient.insert(m.input_gradient.end(), r.input_gradient[j].begin(), r.input_gradient[j].end());
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace comet
