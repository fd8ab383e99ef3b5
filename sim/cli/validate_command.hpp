// `comet validate`: runs a scenario's partition policies on this machine's GPUs with the real
// kernels (the same Plans the simulator runs), times every op, checks numerics, and writes the
// measured Timelines. Exit codes: 0 all correct, 1 a policy's numerics failed, 2 bad input
// (including more GPUs than present), 3 a GPU, CUDA or NCCL failure (watchdog included).
// Under mpirun (one process per GPU) rank 0 prints and writes; the others only run.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "command.hpp"
#include "mpi_world.hpp"
#include "real_executor.hpp"

namespace comet {

class ValidateCommand : public Command {
 public:
  /// `mpi`: this process is one rank of an MPI launch (null: one process, a thread per GPU).
  /// `command`: this process's command line, recorded as provenance.
  explicit ValidateCommand(const MpiWorld* mpi = nullptr, std::string command = "") : mpi_(mpi), command_(std::move(command)) {}
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::string file_, placement_, output_, fault_, calibration_;
  std::vector<std::string> partitions_;
  bool measure_only_ = false;
  int comm_ctas_ = 0, pipeline_gemm_sms_ = 0;
  bool no_op_graphs_ = false;
  RealRunOptions options_;  ///< warm-up, repeats, passes, heat, lead-in, lanes, watchdog (real_run_options.hpp)
  const MpiWorld* mpi_;
  std::string command_;
};

}  // namespace comet
