#include "real_executor.hpp"

#include <fmt/format.h>

#include <memory>
#include <numeric>

#include "gpu_error.hpp"
#include "input_error.hpp"
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

void check_fits_machine(const std::string& origin, int gpus, int expert_parallel, const MpiWorld* mpi) {
  const int present = visible_gpu_count();
  if (mpi) {
    if (mpi->size != gpus)
      throw InputError({origin, 0, 0}, "topology", fmt::format("{} GPUs", gpus),
                       fmt::format("one MPI process per GPU: mpirun -np {} (this job has {} processes)", gpus, mpi->size));
    if (present == 0 || mpi_device(*mpi, present) >= present)
      throw InputError({origin, 0, 0}, "topology", fmt::format("{} GPUs", gpus),
                       fmt::format("a GPU for local rank {} on every host (this one has {})", mpi->local_rank, present));
  } else if (gpus > present) {
    throw InputError({origin, 0, 0}, "topology", fmt::format("{} GPUs", gpus),
                     fmt::format("at most the {} GPU(s) this machine has (one node; more through mpirun)", present));
  }
  if (expert_parallel != gpus)
    throw InputError({origin, 0, 0}, "parallelism.expert_parallel", std::to_string(expert_parallel),
                     fmt::format("the scenario's {} GPUs: one expert-parallel group runs", gpus));
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
