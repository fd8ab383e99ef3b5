// `comet cost-model`: writes the built-in cost model of a GPU as a calibration YAML file, the
// starting point for hand edits and the format `comet calibrate` fills from measurements.
#pragma once

#include "command.hpp"

#include <string>

namespace comet {

class CostModelCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::string gpu_ = "h100-sxm";
  std::string input_;
  std::string output_;
};

}  // namespace comet
