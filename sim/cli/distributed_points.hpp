// `mpirun -np N comet sweep|compare ...` (or `srun`): the points split over the MPI ranks, point i
// on rank i % N, each rank running its points in child processes exactly as a local run does
// (child_pool.hpp). Rank 0 receives every other rank's results and handles them as if it had run
// them, so it writes the same files as a local run; the other ranks print nothing. Without an
// MPI launcher nothing here touches MPI.
#pragma once

#include "child_pool.hpp"

namespace comet {

struct PointRanks {
  int rank = 0;
  int size = 1;
  bool root() const { return rank == 0; }
};

/// Starts MPI when an MPI launcher (mpirun, mpiexec, srun) started this process; {0, 1} without
/// one. Throws InputError when launched by MPI but built without it.
PointRanks start_point_ranks();

/// run_child_pool over the ranks: on rank 0, tasks.on_finished (and the stop checks) see every
/// point of every rank, in the order results arrive; on the others, no callback but `work` runs.
/// Every rank returns only once all have left the pool (rank 0 stops the others when it stops);
/// returns false when stopped (a callback said so, or a signal). The caller then reports, and every
/// rank calls finish_point_ranks() and exits (rank 0 with the failure's code).
bool run_distributed_pool(const ChildPoolTasks& tasks, const PointRanks& ranks);

/// Every rank: MPI's end (nothing without MPI).
void finish_point_ranks(const PointRanks& ranks);

/// Ends every rank of the job with `code` by MPI_Abort when they may not have left
/// run_distributed_pool together (an error on rank 0 before or inside it); returns otherwise
/// (and without MPI), the caller then finishing and exiting with the code.
void abort_point_ranks(const PointRanks& ranks, int code);

}  // namespace comet
