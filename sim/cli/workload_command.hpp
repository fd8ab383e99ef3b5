// `comet workload`: generates a scenario's routing per step, prints its imbalance, and exports
// it as a trace CSV (`step,src_gpu,expert,tokens`) that a `trace` workload reads back.
#pragma once

#include "command.hpp"

#include <string>

namespace comet {

class WorkloadCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::string file_, export_;
  bool json_ = false;
};

}  // namespace comet
