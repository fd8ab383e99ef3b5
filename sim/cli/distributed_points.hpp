// `mpirun -np N comet sweep|compare ...` (or `srun`): the points split over the MPI ranks, point i
// on rank i % N, each rank running its points in child processes exactly as a local run does
// (child_pool.hpp). Rank 0 receives every other rank's results and handles them as if it had run
// them, so it writes the same files as a local run; the other ranks print nothing. Without an
// MPI launcher nothing here touches MPI.
#pragma once

#include <functional>

#include "child_pool.hpp"

namespace comet {

struct PointRanks {
  int rank = 0;
  int size = 1;
  bool root() const { return rank == 0; }
};

/// Runs `body` on this rank: MPI started before it when an MPI launcher (mpirun, mpiexec, srun)
/// started this process (ranks {0, 1} without one; InputError when launched by MPI but built
/// without it), and finished after it on every path, so that the job ends as one:
/// - body returns or throws after the ranks have left run_distributed_pool together: every rank
///   finishes normally (rank 0 with body's code or error);
/// - it throws before the pool on any rank: the ranks agree on it at the pool's entry (those that
///   got there leave it at once, running nothing), then all finish normally;
/// - it throws inside the pool: MPI_Abort, the only way to reach ranks still running points.
/// Open MPI 4.1's mpirun can crash in its own finalize while relaying MPI_Abort's message (seen in
/// CI: exit 139 instead of 2), so it is kept for that last case.
int run_on_point_ranks(const std::function<int(const PointRanks&)>& body);

/// run_child_pool over the ranks: on rank 0, tasks.on_finished (and the stop checks) see every
/// point of every rank, in the order results arrive; on the others, no callback but `work` runs.
/// Every rank returns only once all have left the pool (rank 0 stops the others when it stops);
/// returns false when stopped (a callback said so, a signal, or another rank failed before it).
bool run_distributed_pool(const ChildPoolTasks& tasks, const PointRanks& ranks);

}  // namespace comet
