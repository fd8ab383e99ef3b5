// The `comet` command line. Subcommands live in one file each; main() only parses, dispatches,
// and turns errors into messages and exit codes:
//   0 success, 2 bad input (files, options), 3 internal error.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench_command.hpp"
#include "check_command.hpp"
#include "compare_command.hpp"
#include "cost_model_command.hpp"
#include "init_command.hpp"
#include "placement_command.hpp"
#include "plan_command.hpp"
#include "simulate_command.hpp"
#include "sweep_command.hpp"
#include "workload_command.hpp"
#include "validate_forward_command.hpp"
#include "command_runner.hpp"

int main(int argc, char** argv) {
  std::vector<std::unique_ptr<comet::Command>> commands;
  commands.push_back(std::make_unique<comet::CheckCommand>());
  commands.push_back(std::make_unique<comet::InitCommand>());
  commands.push_back(std::make_unique<comet::WorkloadCommand>());
  commands.push_back(std::make_unique<comet::PlacementCommand>());
  commands.push_back(std::make_unique<comet::PlanCommand>());
  commands.push_back(std::make_unique<comet::SimulateCommand>());
  commands.push_back(std::make_unique<comet::CompareCommand>());
  commands.push_back(std::make_unique<comet::SweepCommand>());
  commands.push_back(std::make_unique<comet::CostModelCommand>());
  commands.push_back(std::make_unique<comet::BenchCommand>());
  commands.push_back(std::make_unique<comet::GpuForwardCommand>(
      "validate", "Run the scenario's partition policies on this machine's GPUs with real CUDA and NCCL kernels, time "
                  "every op, check numerics and compare with the analytical engine's prediction; or, with --measured "
                  "FILE, predict a recorded measurement on any machine (comet validate --help)"));
  commands.push_back(std::make_unique<comet::GpuForwardCommand>(
      "calibrate", "Measure the cost model on this machine's GPUs with the real kernels and fit it into a calibration "
                   "YAML (comet calibrate --help)"));
  return comet::run_commands(commands, argc, argv,
                             "comet: simulate and validate communication policies for Mixture-of-Experts layers on GPU "
                             "clusters");
}
