// The real executor: runs Plans on GPUs with real kernels on random data and measures every op.
// Launched like nccl-tests: one process with a host thread per GPU of this machine, or, under
// mpirun, one process per GPU (mpi_executor.hpp; multi-node goes through MPI).
// The jobs run in `passes` passes, alternately in the given and the reverse order; on each visit a
// job's plan runs `warmup` times untimed, then its share of the `repeats` timed runs. An op's
// start and end are the medians over repeats (all-to-alls: earliest start and latest end over the
// ranks). The GPU is heated before each visit and every run starts right after a lead-in of
// GEMMs (gpu_heater.hpp), so ops are timed at the sustained clock.
// A watchdog aborts the NCCL communicators when a rank makes no progress for `watchdog_s`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layer_buffers.hpp"
#include "mpi_world.hpp"
#include "numerics.hpp"
#include "plan.hpp"
#include "rank_runner.hpp"
#include "timeline.hpp"
#include "token_layout.hpp"

namespace comet {

struct RealRunOptions {
  int warmup = 2;
  int repeats = 5;
  double heat_s = 1.0;     ///< seconds of dense GEMMs before each visit's warm-up (gpu_heater.hpp)
  double lead_in_s = 0.1;  ///< seconds of dense GEMMs enqueued right before every run (gpu_heater.hpp)
  int passes = 2;          ///< passes over the jobs, alternating order (at most `repeats`)
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
  LayerTensors tensors;  ///< every rank's output, input gradient and first expert's weight gradients (numerics.hpp)
};

/// GPUs visible to this process (0 without a driver or GPU).
int visible_gpu_count();

/// Throws InputError (naming `origin`, the scenario) unless a run of `gpus` GPUs forming one
/// expert-parallel group of `expert_parallel` fits here: that many GPUs on this machine, or under
/// `mpi` one process per GPU, each with a GPU of its host.
void check_fits_machine(const std::string& origin, int gpus, int expert_parallel, const MpiWorld* mpi);

/// Runs every job on GPUs 0 .. ranks-1 (under MPI: this process's rank on its GPU; only rank 0
/// gets the measurements, the others an empty vector). Throws GpuError (out of memory,
/// CUDA/NCCL errors, watchdog) after stopping every rank.
std::vector<RealMeasurement> run_on_gpus(const std::vector<RealJob>& jobs, const LayerDims& dims, int ranks,
                                         const RealRunOptions& options);

}  // namespace comet
