// `comet check [FILE] [--json]`: validates a scenario or topology file and summarizes it.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace comet {

class CheckCommand {
 public:
  void add_to(CLI::App& app);
  bool chosen() const { return app_ != nullptr && app_->parsed(); }
  int run() const;

 private:
  CLI::App* app_ = nullptr;
  std::string file_;
  bool json_ = false;
};

}  // namespace comet
