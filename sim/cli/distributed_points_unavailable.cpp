// distributed_points.hpp for builds without MPI: a local run, and a clear error under mpirun.
#include <cstdlib>
#include <string>

#include "distributed_points.hpp"
#include "input_error.hpp"

namespace comet {

int run_on_point_ranks(const std::function<int(const PointRanks&)>& body) {
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (const char* size = std::getenv(variable); size && std::string(variable) != "PMIX_RANK" && std::atoi(size) > 1)
      throw InputError({"<command line>", 0, 0}, "mpirun", size,
                       "a comet built with MPI (install an MPI library and build again), or one process with --jobs");
  return body(PointRanks{});
}

bool run_distributed_pool(const ChildPoolTasks& tasks, const PointRanks&) { return run_child_pool(tasks); }

}  // namespace comet
