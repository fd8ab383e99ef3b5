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

namespace comet {

class CalibrateCommand : public Command {
 public:
  explicit CalibrateCommand(std::string command = "") : command_(std::move(command)) {}
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::vector<std::string> files_, models_{"mixtral-8x7b", "deepseek-v3", "qwen2-moe", "phi-3.5-moe"};
  std::string output_ = "calibration.yaml", gpu_ = "h200", runs_;
  std::vector<std::int64_t> tokens_{1024, 4096, 16384};
  std::vector<int> chunks_{1, 2, 4, 8};
  int gpus_ = 1, warmup_ = 2, repeats_ = 5, expert_lanes_ = 4;
  double watchdog_s_ = 120.0, heat_s_ = 1.0;
  std::string command_;
};

}  // namespace comet
