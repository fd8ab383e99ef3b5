#include "bench_common.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

#include "all_to_all_v.hpp"
#include "gpu_error.hpp"
#include "median.hpp"
#include "random_fill.hpp"

namespace comet::bench {

double time_s(const std::function<void()>& work, cudaStream_t stream, int iters) {
  for (int i = 0; i < 3; ++i) work();
  cudaEvent_t start, end;
  check_cuda(cudaEventCreate(&start), "event");
  check_cuda(cudaEventCreate(&end), "event");
  std::vector<double> samples;
  for (int s = 0; s < 5; ++s) {
    check_cuda(cudaEventRecord(start, stream), "record");
    for (int i = 0; i < iters; ++i) work();
    check_cuda(cudaEventRecord(end, stream), "record");
    check_cuda(cudaEventSynchronize(end), "synchronize");
    float ms = 0;
    check_cuda(cudaEventElapsedTime(&ms, start, end), "elapsed");
    samples.push_back(ms * 1e-3 / iters);
    progress();
  }
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  return median(samples);
}

void fill(DeviceBuffer<bf16>& buffer, std::uint64_t seed) {
  check_cuda(kernels::random_fill_bf16(buffer.get(), buffer.size(), seed, 0.05f, nullptr), "fill " + buffer.name());
}

namespace {

// The running ranks' communicators and the watchdog's clock. One rank failing (or no rank making
// progress for the watchdog's seconds) aborts every communicator: a peer blocked in an NCCL
// kernel waiting for the failed rank then returns with an error instead of waiting forever.
struct Watch {
  std::mutex mutex;
  std::vector<ncclComm_t> comms;
  std::atomic<std::int64_t> last_progress_ns{0};
  double watchdog_s = 120.0;
};
Watch& watch() {
  static Watch w;
  return w;
}
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
void abort_all_communicators() {
  std::lock_guard lock(watch().mutex);
  for (ncclComm_t comm : watch().comms) ncclCommAbort(comm);
  watch().comms.clear();
}

}  // namespace

void set_watchdog_seconds(double seconds) { watch().watchdog_s = seconds; }

void progress() { watch().last_progress_ns = now_ns(); }

void run_per_gpu(int ranks, const std::function<void(int rank)>& per_rank) {
  std::vector<std::string> errors(ranks);
  std::atomic<int> failed{0}, finished{0};
  std::vector<std::thread> threads;
  progress();
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        check_cuda(cudaSetDevice(r), "select GPU");
        per_rank(r);
      } catch (const std::exception& error) {
        errors[r] = error.what();
        ++failed;
      }
      ++finished;
    });
  // The watchdog: this thread waits for the ranks, and aborts every communicator when one failed
  // or none progressed for watchdog_s. Ranks that still do not return within 30 s after that are
  // stuck beyond what an abort reaches: the process ends with exit code 3, as `comet validate`'s.
  std::string watchdog_error;
  bool aborted = false;
  std::int64_t aborted_at = 0;
  while (finished < ranks) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const double idle_s = static_cast<double>(now_ns() - watch().last_progress_ns) * 1e-9;
    if (!aborted && (failed > 0 || idle_s > watch().watchdog_s)) {
      if (failed == 0)
        watchdog_error = fmt::format("watchdog: no rank progressed for {:.0f} s; communicators aborted", idle_s);
      abort_all_communicators();
      aborted = true;
      aborted_at = now_ns();
    }
    if (aborted && static_cast<double>(now_ns() - aborted_at) * 1e-9 > 30.0) {
      fmt::print(stderr, "comet_gpu_bench: ranks still blocked 30 s after their communicators were aborted ({}); exiting\n",
                 watchdog_error.empty() ? "a rank failed" : watchdog_error);
      std::fflush(stderr);
      std::_Exit(3);
    }
  }
  for (auto& t : threads) t.join();
  for (const std::string& e : errors)
    if (!e.empty()) throw GpuError(e);
  if (!watchdog_error.empty()) throw GpuError(watchdog_error);
}

ncclComm_t join_communicator(int rank, int ranks, const ncclUniqueId& id, int max_ctas) {
  ncclConfig_t config = kernels::communicator_config(max_ctas);
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRankConfig(&comm, ranks, id, rank, &config), "NCCL init");
  std::lock_guard lock(watch().mutex);
  watch().comms.push_back(comm);
  return comm;
}

void leave_communicator(ncclComm_t comm) {
  {
    std::lock_guard lock(watch().mutex);
    auto& comms = watch().comms;
    const auto it = std::find(comms.begin(), comms.end(), comm);
    if (it == comms.end()) return;  // aborted by the watchdog: already gone
    comms.erase(it);
  }
  ncclCommDestroy(comm);
}

}  // namespace comet::bench
