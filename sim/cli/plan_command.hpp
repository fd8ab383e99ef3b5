// `comet plan`: builds the Plan of a scenario under one policy triple and summarizes it
// (ops per kind, bytes per all-to-all phase, partition choices, plan hash, build time).
#pragma once

#include "command.hpp"
#include "scenario_argument.hpp"

#include <string>

namespace comet {

class PlanCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::string file_;
  PolicyOptions policies_;
  int layers_ = 1;
  int steps_ = 1;
  bool json_ = false;
};

}  // namespace comet
