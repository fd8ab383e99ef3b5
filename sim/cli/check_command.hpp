// `comet check [FILE] [--json]`: validates a scenario or topology file and summarizes it.
#pragma once

#include "command.hpp"

#include <string>

namespace comet {

class CheckCommand : public Command {
 public:
  void add_to(CLI::App& app) override;
  int run() const override;

 private:
  std::string file_;
  bool json_ = false;
};

}  // namespace comet
