// `comet simulate`: builds the Plan of a scenario under one policy triple, runs it on an engine,
// and reports per layer direction and in total, with the speedup against the baseline
// (contiguous + none + direct) simulated on the same engine.
#pragma once

#include "command.hpp"
#include "engine_options.hpp"
#include "scenario_argument.hpp"

#include <string>

namespace comet {

class SimulateCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::string file_, timeline_;
  EngineOptions engine_;
  PolicyOptions policies_;
  bool json_ = false;
};

}  // namespace comet
