// comet-validate built without MPI (no MPI library found at configure time): an mpirun launch is
// refused with a message saying how to get it; the threaded launch is unaffected.
#include <cstdlib>

#include "input_error.hpp"
#include "mpi_executor.hpp"

namespace comet {

MpiWorld start_mpi(int*, char***) {
  throw InputError({"<command line>", 0, 0}, "launcher", "mpirun",
                   "a comet-validate built with MPI (install an MPI library, e.g. Debian's libopenmpi-dev, and "
                   "reconfigure); without mpirun it runs one thread per GPU");
}

void finish_mpi() {}

void abort_mpi(int code) { std::exit(code); }

std::vector<RealMeasurement> run_on_gpus_mpi(const std::vector<RealJob>&, const LayerDims&, const MpiWorld&,
                                             const RealRunOptions&) {
  throw InputError({"<command line>", 0, 0}, "launcher", "mpirun", "a comet-validate built with MPI");
}

}  // namespace comet
