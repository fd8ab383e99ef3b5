// The real executor: runs Plans on GPUs with real kernels on random data and measures every op.
// Launched like nccl-tests: one process with a host thread per GPU of this machine, or, under
// mpirun, one process per GPU (mpi_executor.hpp; multi-node goes through MPI).
// Each policy's plan runs `warmup` times untimed, then `repeats` times; an op's start and end
// are the medians over repeats (all-to-alls: earliest start and latest end over the ranks).
// A watchdog aborts the NCCL communicators when a rank makes no progress for `watchdog_s`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layer_buffers.hpp"
#include "mpi_world.hpp"
#include "plan.hpp"
#include "rank_runner.hpp"
#include "timeline.hpp"
#include "token_layout.hpp"

namespace comet {

struct RealRunOptions {
  int warmup = 2;
  int repeats = 5;
  double heat_s = 1.0;  ///< seconds of dense GEMMs before each job's warm-up (gpu_heater.hpp)
  double watchdog_s = 120.0;
  CommSettings comm;
  ComputeSettings compute;
  std::uint64_t seed = 1;
  FaultInjection fault;
  const MpiWorld* mpi = nullptr;  ///< set: this process is one MPI rank (one GPU) of the run
};

/// One policy's work: the plan and its token layout (built by the same code as the simulator's).
struct RealJob {
  std::string name;
  const Plan* plan = nullptr;
  const TokenLayout* layout = nullptr;
  double compute_sm_fraction = 1.0;
};

struct RealMeasurement {
  Timeline timeline;
  std::vector<double> layer_time_samples_s;  ///< per timed repeat: first op start to last op end over ranks
  std::vector<float> output;          ///< every rank's layer output, rank after rank [tokens, H]
  std::vector<float> input_gradient;  ///< the same for the input gradient
  std::vector<float> weight_gradient; ///< every rank's first local expert's weight gradients, rank after rank
};

/// GPUs visible to this process (0 without a driver or GPU).
int visible_gpu_count();

/// Runs every job on GPUs 0 .. ranks-1 (under MPI: this process's rank on its GPU; only rank 0
/// gets the measurements, the others an empty vector). Throws GpuError (out of memory,
/// CUDA/NCCL errors, watchdog) after stopping every rank.
std::vector<RealMeasurement> run_on_gpus(const std::vector<RealJob>& jobs, const LayerDims& dims, int ranks,
                                         const RealRunOptions& options);

}  // namespace comet
