// The parts of the MPI launch that need no MPI library: detecting the launcher, and who prints.
#include "mpi_world.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "mpi_executor.hpp"

namespace comet {
bool launched_by_mpi() {
  // Open MPI, MPICH / Intel MPI (PMI) and Slurm's PMIx set these in every process they start.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

void silence_non_root_output(const MpiWorld& world) {
  if (world.root()) return;
  std::fflush(stdout);
  const int null = open("/dev/null", O_WRONLY);
  if (null < 0) return;
  dup2(null, STDOUT_FILENO);
  close(null);
}

int mpi_device(const MpiWorld& world, int visible_gpus) { return visible_gpus == 1 ? 0 : world.local_rank; }

}  // namespace comet
