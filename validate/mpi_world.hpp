// Launching validation as one MPI process per GPU (`mpirun -np N comet-validate ...`, as
// nccl-tests does with MPI=1): which rank this process is, and MPI's start and end. Without an
// MPI launcher comet-validate runs one process with a thread per GPU and never touches MPI.
#pragma once

namespace comet {

struct MpiWorld {
  int rank = 0;        ///< this process's rank in MPI_COMM_WORLD (= its rank in the Plan)
  int size = 1;        ///< processes in MPI_COMM_WORLD (= the scenario's GPUs)
  int local_rank = 0;  ///< rank among the processes of this host (selects the GPU)
  bool root() const { return rank == 0; }
};

/// True when an MPI launcher (mpirun, mpiexec, srun) started this process.
bool launched_by_mpi();

/// Initialises MPI (thread level SERIALIZED: the rank thread and the main thread call MPI in
/// turn, never at once). Throws InputError when comet-validate was built without MPI.
MpiWorld start_mpi(int* argc, char*** argv);

/// Non-root ranks write nothing to stdout (rank 0 prints the tables); stderr stays, so an error
/// only one rank meets (its GPU failed, a host without the GPU) is still seen.
void silence_non_root_output(const MpiWorld& world);

void finish_mpi();

/// Ends every rank of the job with `code` (mpirun exits with it).
[[noreturn]] void abort_mpi(int code);

}  // namespace comet
