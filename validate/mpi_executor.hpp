// The real executor under MPI: this process runs one rank of the Plan on its GPU; NCCL's
// unique ids travel by MPI broadcast and every rank's op times and outputs are gathered to
// rank 0, which merges them exactly as the threaded launch does.
#pragma once

#include <vector>

#include "mpi_world.hpp"
#include "real_executor.hpp"

namespace comet {

/// Rank 0 gets every job's measurement; the other ranks get an empty vector. A GPU failure on
/// any rank prints that rank's message and aborts the whole job with exit code 3.
std::vector<RealMeasurement> run_on_gpus_mpi(const std::vector<RealJob>& jobs, const LayerDims& dims, const MpiWorld& world,
                                             const RealRunOptions& options);

/// The GPU this rank uses: its local rank, or 0 when the launcher left one GPU visible per process.
int mpi_device(const MpiWorld& world, int visible_gpus);

}  // namespace comet
