// `comet placement`: what each placement policy does to the traffic of a scenario, against
// `contiguous`: bytes per tier, cross-node bytes, the most loaded link, GPU load imbalance.
#pragma once

#include "command.hpp"

#include <string>
#include <vector>

namespace comet {

class PlacementCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::string file_, a2a_;
  std::vector<std::string> placements_;
  bool json_ = false;
};

}  // namespace comet
