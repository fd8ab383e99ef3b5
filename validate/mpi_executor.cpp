#include "mpi_executor.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "gpu_error.hpp"
#include "input_error.hpp"
#include "rank_task.hpp"

namespace comet {
namespace {

// A barrier over MPI_COMM_WORLD that gives up when this process's watchdog declared the run
// failed (`failed`), where MPI_Barrier would block for good.
class MpiBarrier : public RankBarrier {
 public:
  void arrive_and_wait(const std::atomic<bool>& failed) override {
    MPI_Request request;
    MPI_Ibarrier(MPI_COMM_WORLD, &request);
    int done = 0;
    while (MPI_Test(&request, &done, MPI_STATUS_IGNORE), !done) {
      if (failed) throw GpuError("stopped: another rank failed");
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
};

void broadcast_ids(ncclUniqueId& dispatch_id, ncclUniqueId& combine_id, const MpiWorld& world) {
  if (world.root()) {
    check_nccl(ncclGetUniqueId(&dispatch_id), "create NCCL id");
    check_nccl(ncclGetUniqueId(&combine_id), "create NCCL id");
  }
  MPI_Bcast(&dispatch_id, sizeof dispatch_id, MPI_BYTE, 0, MPI_COMM_WORLD);
  MPI_Bcast(&combine_id, sizeof combine_id, MPI_BYTE, 0, MPI_COMM_WORLD);
}

// Op times of every rank to rank 0: the same shape on every rank (jobs x repeats x ops).
void gather_times(const RankResult& mine, std::vector<RankResult>& all, const MpiWorld& world) {
  std::vector<double> flat;
  for (const auto& job : mine.times)
    for (const auto& repeat : job)
      for (const auto& [start, end] : repeat) {
        flat.push_back(start);
        flat.push_back(end);
      }
  std::vector<double> every(world.root() ? flat.size() * static_cast<std::size_t>(world.size) : 0);
  MPI_Gather(flat.data(), static_cast<int>(flat.size()), MPI_DOUBLE, every.data(), static_cast<int>(flat.size()), MPI_DOUBLE,
             0, MPI_COMM_WORLD);
  if (!world.root()) return;
  for (int r = 0; r < world.size; ++r) {
    const double* at = every.data() + static_cast<std::size_t>(r) * flat.size();
    all[r].times = mine.times;  // the shape; values below
    for (auto& job : all[r].times)
      for (auto& repeat : job)
        for (auto& [start, end] : repeat) {
          start = *at++;
          end = *at++;
        }
  }
}

// One float vector per rank to rank 0 (sizes may differ: tokens per rank). Point to point, one
// message per rank: a rank's vector fits an int count, the sum over many ranks may not.
std::vector<std::vector<float>> gather_floats(const std::vector<float>& mine, const MpiWorld& world) {
  constexpr int TAG = 17;
  const int count = static_cast<int>(mine.size());
  std::vector<int> counts(world.size);
  MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!world.root()) {
    MPI_Send(mine.data(), count, MPI_FLOAT, 0, TAG, MPI_COMM_WORLD);
    return {};
  }
  std::vector<std::vector<float>> out(world.size);
  out[0] = mine;
  for (int r = 1; r < world.size; ++r) {
    out[r].resize(static_cast<std::size_t>(counts[r]));
    MPI_Recv(out[r].data(), counts[r], MPI_FLOAT, r, TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  return out;
}

}  // namespace

MpiWorld start_mpi(int* argc, char*** argv) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided);
  MpiWorld world;
  MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world.size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &world.local_rank);
  MPI_Comm_free(&local);
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    throw InputError({"<command line>", 0, 0}, "launcher", "mpirun",
                     "an MPI library with MPI_THREAD_SERIALIZED support (the rank runs on its own thread)");
  }
  return world;
}

void finish_mpi() { MPI_Finalize(); }

void abort_mpi(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

std::vector<RealMeasurement> run_on_gpus_mpi(const std::vector<RealJob>& jobs, const LayerDims& dims, const MpiWorld& world,
                                             const RealRunOptions& options) {
  ncclUniqueId dispatch_id{}, combine_id{};
  const auto shared = std::make_shared<RunControl>(world.size, "(another process)");
  shared->activity[world.rank] = "starting";
  MpiBarrier barrier;
  RankResult mine;
  try {
    broadcast_ids(dispatch_id, combine_id, world);
    const int device = mpi_device(world, visible_gpu_count());
    run_rank_threads(
        {world.rank},
        [&](int r) { run_rank(r, device, world.size, jobs, dims, options, dispatch_id, combine_id, *shared, barrier, mine); },
        shared, options.watchdog_s);
  } catch (const GpuError& error) {
    // The other processes cannot see this one's state: report here and end the whole job.
    fmt::print(stderr, "comet: GPU error: {}\n", error.what());
    std::fflush(stderr);
    abort_mpi(EXIT_GPU_FAILURE);
  }
  std::vector<RankResult> all(world.root() ? world.size : 0);
  gather_times(mine, all, world);
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    std::vector<std::vector<float>> outputs = gather_floats(mine.output[j], world);
    std::vector<std::vector<float>> gradients = gather_floats(mine.input_gradient[j], world);
    std::vector<std::vector<float>> weights = gather_floats(mine.weight_gradient[j], world);
    for (std::size_t r = 0; r < all.size(); ++r) {
      all[r].output.push_back(std::move(outputs[r]));
      all[r].input_gradient.push_back(std::move(gradients[r]));
      all[r].weight_gradient.push_back(std::move(weights[r]));
    }
  }
  if (!world.root()) return {};
  return merge_ranks(jobs, all);
}

}  // namespace comet
