// `comet placement`: what each placement policy does to the traffic of a scenario, against
// `contiguous`: bytes per tier, cross-node bytes, the most loaded link, GPU load imbalance.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace comet {

class PlacementCommand {
 public:
  void add_to(CLI::App& app);
  bool chosen() const { return app_ != nullptr && app_->parsed(); }
  int run() const;

 private:
  CLI::App* app_ = nullptr;
  std::string file_, a2a_;
  std::vector<std::string> placements_;
  bool json_ = false;
};

}  // namespace comet
