// `comet calibrate [SCENARIO...] [--gpus N] [-o FILE]`: measures the calibration Plans of the
// given scenarios' model shapes (or of a default set of presets) on this machine's GPUs with the
// real executor, fits the cost model (calibration_fit.hpp), prints the fit quality per table and
// writes the calibration YAML with provenance. Progress on stderr.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "command.hpp"
#include "mpi_world.hpp"
#include "real_executor.hpp"

namespace comet {

class CalibrateCommand : public Command {
 public:
  /// `mpi`: this process is one rank of an MPI launch (null: one process, a thread per GPU);
  /// rank 0 fits, prints and writes. `command`: this process's command line (provenance).
  explicit CalibrateCommand(const MpiWorld* mpi = nullptr, std::string command = "") : mpi_(mpi), command_(std::move(command)) {}
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::vector<std::string> files_, models_{"mixtral-8x7b", "deepseek-v3", "qwen2-moe", "phi-3.5-moe"};
  std::string output_ = "calibration.yaml", gpu_ = "h200", runs_;
  std::vector<std::int64_t> tokens_{1024, 4096, 16384};
  std::vector<int> chunks_{1, 2, 4, 8};
  int gpus_ = 1;
  std::vector<int> fused_blocks_{8, 16};
  RealRunOptions options_;  ///< warm-up, repeats, passes, heat, lead-in, lanes, watchdog (real_run_options.hpp)
  const MpiWorld* mpi_;
  std::string command_;
};

}  // namespace comet
