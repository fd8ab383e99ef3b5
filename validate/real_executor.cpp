#include "real_executor.hpp"

#include <memory>
#include <numeric>

#include "gpu_error.hpp"
#include "mpi_executor.hpp"
#include "rank_task.hpp"

namespace comet {

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
  if (options.mpi) return run_on_gpus_mpi(jobs, dims, *options.mpi, options);
  ncclUniqueId dispatch_id{}, combine_id{};
  check_nccl(ncclGetUniqueId(&dispatch_id), "create NCCL id");
  check_nccl(ncclGetUniqueId(&combine_id), "create NCCL id");
  const auto shared = std::make_shared<RunControl>(ranks);
  CancellableBarrier barrier(ranks);
  std::vector<RankResult> results(ranks);
  std::vector<int> all(ranks);
  std::iota(all.begin(), all.end(), 0);
  run_rank_threads(
      all,
      [&](int r) {
        run_rank(r, r, ranks, jobs, dims, options, dispatch_id, combine_id, *shared, barrier, results[r]);
      },
      shared, options.watchdog_s);
  return merge_ranks(jobs, results);
}

}  // namespace comet
