// `comet cost-model`: writes the built-in cost model of a GPU as a calibration YAML file, the
// starting point for hand edits and the format `comet calibrate` fills from measurements.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace comet {

class CostModelCommand {
 public:
  void add_to(CLI::App& app);
  bool chosen() const { return app_ != nullptr && app_->parsed(); }
  int run() const;

 private:
  CLI::App* app_ = nullptr;
  std::string gpu_ = "h100-sxm";
  std::string input_;
  std::string output_;
};

}  // namespace comet
